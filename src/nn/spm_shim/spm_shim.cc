// A tiny C interface to sentencepiece, built as its own shared library and
// loaded with dlmopen(LM_ID_NEWLM) by nn/tokenizer.cc.
//
// Why: Debian's libsentencepiece carries its own copy of protobuf-lite with
// exported symbols, and libtorch loads the system libprotobuf; linked into one
// program, sentencepiece's static initialisers bind to the wrong protobuf and
// crash at start-up. Loaded into a namespace of its own (with its own
// libstdc++), sentencepiece sees only its own copy; only C types cross.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstring>
#include <string>
#include <vector>

namespace {
void set_error(const std::string& msg, char* err, int errlen) {
  if (!err || errlen <= 0) return;
  std::strncpy(err, msg.c_str(), static_cast<std::size_t>(errlen - 1));
  err[errlen - 1] = '\0';
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int funnel_spm_train(const char* args, char* err, int errlen) {
  auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (status.ok()) return 0;
  set_error(status.ToString(), err, errlen);
  return 1;
}

__attribute__((visibility("default"))) void* funnel_spm_load(const char* path, char* err, int errlen) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  auto status = sp->Load(path);
  if (status.ok()) return sp;
  set_error(status.ToString(), err, errlen);
  delete sp;
  return nullptr;
}

// Writes up to `cap` ids; returns how many the text has.
__attribute__((visibility("default"))) int funnel_spm_encode(void* h, const char* text, int* out, int cap) {
  std::vector<int> ids;
  static_cast<sentencepiece::SentencePieceProcessor*>(h)->Encode(text, &ids).IgnoreError();
  for (int i = 0; i < cap && i < static_cast<int>(ids.size()); ++i) out[i] = ids[static_cast<std::size_t>(i)];
  return static_cast<int>(ids.size());
}

__attribute__((visibility("default"))) int funnel_spm_vocab_size(void* h) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(h)->GetPieceSize();
}

__attribute__((visibility("default"))) void funnel_spm_free(void* h) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(h);
}

}  // extern "C"
