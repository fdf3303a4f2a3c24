# The libFuzzer target for POST /v1/search (tests/serve/request_fuzzer.cc,
# docs/serving.md "Fuzzing"), included by tests/CMakeLists.txt where
# funnel_core, FUNNEL_TEST_TMP and PROJECT_SOURCE_DIR exist.
#
# libFuzzer comes with clang, not g++: the fuzzer and the code under test
# (src/serve/search_request.cc, search_handler.cc, serving_state.cc) are
# compiled by clang++ with -fsanitize=fuzzer,address,undefined, one object
# each (with a depfile, so header edits rebuild them), and linked against
# the g++-built libfunnel_core.so (both use libstdc++: one ABI). The library
# itself is not instrumented; ASan still sees its heap through malloc.
#
# ctest -L fuzz runs it for 20 s on a fresh copy of tests/serve/fuzz_corpus
# in ${FUNNEL_TEST_TMP}/fuzz.request (where libFuzzer adds what it finds:
# the repo's folder is only read). A crash fails the test and leaves the
# input in ${PROJECT_BINARY_DIR}/tests/fuzz-artifacts/.

find_program(FUNNEL_CLANGXX NAMES clang++ clang++-14 clang++-15 clang++-16
             DOC "clang++ with libFuzzer, for the fuzz targets (tests/serve/fuzz.cmake)")
set(FUNNEL_FUZZ_RUNTIME_OK FALSE)
if(FUNNEL_CLANGXX)
  # libFuzzer is in libclang-rt-NN-dev, not in the clang package itself.
  execute_process(COMMAND ${FUNNEL_CLANGXX} -print-runtime-dir OUTPUT_VARIABLE _fuzz_rt_dir
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  file(GLOB _fuzz_rt_lib "${_fuzz_rt_dir}/libclang_rt.fuzzer-*.a" "${_fuzz_rt_dir}/libclang_rt.fuzzer.a")
  if(_fuzz_rt_lib)
    set(FUNNEL_FUZZ_RUNTIME_OK TRUE)
  endif()
endif()

if(NOT FUNNEL_FUZZ_RUNTIME_OK)
  set(_fuzz_why "clang++ with libFuzzer is needed to build tests/serve/request_fuzzer.cc (clang++: '${FUNNEL_CLANGXX}'); install-deps installs clang and libclang-rt-14-dev")
  message(WARNING "${_fuzz_why}: the test fuzz.request will fail")
  add_test(NAME fuzz.request COMMAND ${CMAKE_COMMAND} -E echo "fuzz.request: ${_fuzz_why}")
  set_tests_properties(fuzz.request PROPERTIES WILL_FAIL TRUE LABELS fuzz)
else()
  set(FUNNEL_FUZZER ${PROJECT_BINARY_DIR}/tests/request_fuzzer)
  set(_fuzz_obj_dir ${PROJECT_BINARY_DIR}/tests/request_fuzzer.dir)
  set(FUNNEL_FUZZ_ARTIFACTS ${PROJECT_BINARY_DIR}/tests/fuzz-artifacts)
  file(MAKE_DIRECTORY ${_fuzz_obj_dir} ${FUNNEL_FUZZ_ARTIFACTS})
  # -fno-sanitize-recover: undefined behaviour aborts (a crash libFuzzer
  # reports), instead of a line on stderr and a passing test.
  set(_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c++20 -O1 -g)
  # nlohmann_json, Xapian and ICU headers are in /usr/include (searched
  # anyway; passing it as -I would break libstdc++'s #include_next).
  set(_fuzz_includes -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_SOURCE_DIR}/src)
  get_target_property(_fuzz_json_inc nlohmann_json::nlohmann_json INTERFACE_INCLUDE_DIRECTORIES)
  if(_fuzz_json_inc)
    list(FILTER _fuzz_json_inc EXCLUDE REGEX "^/usr/include/?$")
    foreach(dir IN LISTS _fuzz_json_inc)
      list(APPEND _fuzz_includes -isystem ${dir})
    endforeach()
  endif()

  set(_fuzz_objs)
  foreach(src tests/serve/request_fuzzer.cc src/serve/search_request.cc src/serve/search_handler.cc
              src/serve/serving_state.cc)
    get_filename_component(_name ${src} NAME_WE)
    set(_obj ${_fuzz_obj_dir}/${_name}.o)
    add_custom_command(
      OUTPUT ${_obj}
      COMMAND ${FUNNEL_CLANGXX} ${_fuzz_flags} ${_fuzz_includes} -MD -MF ${_obj}.d -c ${PROJECT_SOURCE_DIR}/${src}
              -o ${_obj}
      DEPENDS ${PROJECT_SOURCE_DIR}/${src}
      DEPFILE ${_obj}.d
      COMMENT "Building ${src} for the fuzz target (clang++, libFuzzer + ASan + UBSan)"
      VERBATIM)
    list(APPEND _fuzz_objs ${_obj})
  endforeach()
  # DEPENDS funnel_core: built first, and a relinked library relinks the fuzzer.
  add_custom_command(
    OUTPUT ${FUNNEL_FUZZER}
    COMMAND ${FUNNEL_CLANGXX} ${_fuzz_flags} ${_fuzz_objs} $<TARGET_FILE:funnel_core>
            -Wl,-rpath,$<TARGET_FILE_DIR:funnel_core> -o ${FUNNEL_FUZZER}
    DEPENDS ${_fuzz_objs} funnel_core
    COMMENT "Linking the fuzz target tests/request_fuzzer"
    VERBATIM)
  add_custom_target(request_fuzzer ALL DEPENDS ${FUNNEL_FUZZER})

  # A fresh copy of the corpus each run: libFuzzer writes new inputs into
  # the first folder only, so the repo's corpus (second) is never written.
  set(_fuzz_run ${FUNNEL_TEST_TMP}/fuzz.request)
  add_test(NAME fuzz.request.clean COMMAND ${CMAKE_COMMAND} -E rm -rf ${_fuzz_run})
  add_test(NAME fuzz.request.corpus
           COMMAND ${CMAKE_COMMAND} -E copy_directory ${PROJECT_SOURCE_DIR}/tests/serve/fuzz_corpus ${_fuzz_run}/corpus)
  set_tests_properties(fuzz.request.clean PROPERTIES FIXTURES_SETUP fuzz_request FIXTURES_REQUIRED tmp LABELS fuzz)
  set_tests_properties(fuzz.request.corpus PROPERTIES FIXTURES_SETUP fuzz_request FIXTURES_REQUIRED tmp
                                                      DEPENDS fuzz.request.clean LABELS fuzz)
  add_test(NAME fuzz.request
           COMMAND ${FUNNEL_FUZZER} -max_total_time=20 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
                   -artifact_prefix=${FUNNEL_FUZZ_ARTIFACTS}/ ${_fuzz_run}/corpus
                   ${PROJECT_SOURCE_DIR}/tests/serve/fuzz_corpus)
  set_tests_properties(fuzz.request PROPERTIES
    TIMEOUT 120
    FIXTURES_REQUIRED "tmp;fuzz_request"
    LABELS fuzz
    ENVIRONMENT "TMPDIR=${FUNNEL_TEST_TMP};UBSAN_OPTIONS=print_stacktrace=1")
endif()
