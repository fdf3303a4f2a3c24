// A minimal W3C WebDriver client for end-to-end browser tests, header-only.
//
// Contract:
//   - WebDriver::available() says whether chromedriver and chromium exist and
//     are executable; a test calls it first and skips (with a message) if not.
//   - The constructor starts `chromedriver --port=P` on a free loopback port
//     as a child process in its own process group (stdout/stderr to
//     /dev/null), waits (bounded) until GET /status reports ready, and opens
//     one headless Chromium session (--headless=new --no-sandbox
//     --disable-gpu --disable-dev-shm-usage, fixed window size). It throws
//     std::runtime_error saying what failed (missing binary, chromedriver
//     exited or never became ready, session refused) and leaves no process
//     behind when it throws.
//   - Every method maps to one or a few WebDriver commands; a failed command
//     throws std::runtime_error "webdriver: <method> <path>: <error>: <message>".
//   - Every HTTP call has connection/read/write timeouts; waits are bounded.
//   - The destructor deletes the session, sends SIGTERM to chromedriver's
//     process group (so the browser goes too), SIGKILL after a bound, and
//     reaps the child. It never throws and never hangs.
//
// Elements are referred to by their WebDriver element id (a string).
// Needs cpp-httplib (compiled with the same CPPHTTPLIB_* defines as the
// library, see `pkg-config --cflags cpp-httplib`) and nlohmann::json.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace funnel::test {

// Where the binaries are and how the browser is started.
struct WebDriverOptions {
  std::string chromedriver = "/usr/bin/chromedriver";
  std::string chromium = "/usr/bin/chromium";
  int width = 1280;
  int height = 1000;
  std::chrono::milliseconds startup_timeout{15000};  // chromedriver ready
  std::chrono::milliseconds command_timeout{30000};  // one HTTP command
  std::string chromedriver_log;  // if set, chromedriver --log-path=<this>
  std::vector<std::string> extra_args;  // more Chromium flags
};

class WebDriver {
 public:
  using json = nlohmann::json;
  using Clock = std::chrono::steady_clock;

  using Options = WebDriverOptions;

  // The WebDriver key code for Enter, for type(element, WebDriver::kEnter).
  static constexpr const char* kEnter = "\xEE\x80\x87";  // U+E007

  static bool available() { return available(Options{}); }
  static bool available(const Options& opt) {
    return executable(opt.chromedriver) && executable(opt.chromium);
  }

  WebDriver() : WebDriver(Options{}) {}
  explicit WebDriver(Options opt) : opt_(std::move(opt)) {
    require_executable(opt_.chromedriver, "chromedriver", "chromium-driver");
    require_executable(opt_.chromium, "chromium", "chromium");
    try {
      start_chromedriver();
      create_session();
    } catch (...) {
      shutdown();
      throw;
    }
  }

  ~WebDriver() { shutdown(); }

  WebDriver(const WebDriver&) = delete;
  WebDriver& operator=(const WebDriver&) = delete;

  int port() const { return port_; }
  const std::string& session_id() const { return session_; }

  // ------------------------------------------------------------ navigation

  void navigate(const std::string& url) {
    command("POST", session_path("/url"), json{{"url", url}});
  }

  std::string current_url() {
    return command("GET", session_path("/url")).get<std::string>();
  }

  // ------------------------------------------------------------ elements

  // The first element matching the CSS selector; throws if there is none.
  std::string find(const std::string& css) {
    auto ids = find_all(css);
    if (ids.empty()) {
      throw std::runtime_error("webdriver: find(\"" + css +
                               "\"): no element matches");
    }
    return ids.front();
  }

  // All elements matching the CSS selector, in document order (maybe none).
  std::vector<std::string> find_all(const std::string& css) {
    json value = command("POST", session_path("/elements"),
                         json{{"using", "css selector"}, {"value", css}});
    std::vector<std::string> ids;
    for (const auto& e : value) ids.push_back(element_id(e));
    return ids;
  }

  // Sends keys to the element (use kEnter for the Enter key).
  void type(const std::string& element, const std::string& text) {
    command("POST", element_path(element, "/value"), json{{"text", text}});
  }

  void clear(const std::string& element) {
    command("POST", element_path(element, "/clear"), json::object());
  }

  void click(const std::string& element) {
    command("POST", element_path(element, "/click"), json::object());
  }

  // The element's rendered text.
  std::string text(const std::string& element) {
    return command("GET", element_path(element, "/text")).get<std::string>();
  }

  // A DOM property such as "value" or "checked" (null if absent).
  json property(const std::string& element, const std::string& name) {
    return command("GET", element_path(element, "/property/" + name));
  }

  // ------------------------------------------------------------ waiting

  // Polls until an element matches the selector; false on timeout.
  bool wait_for(const std::string& css, std::chrono::milliseconds timeout =
                                            std::chrono::milliseconds(10000)) {
    return poll(timeout, [&] { return !find_all(css).empty(); });
  }

  // Polls until the script (a function body) returns a truthy value.
  bool wait_until(const std::string& script,
                  std::chrono::milliseconds timeout =
                      std::chrono::milliseconds(10000)) {
    return poll(timeout, [&] { return truthy(execute(script)); });
  }

  // ------------------------------------------------------------ scripts

  // Runs the script as a function body (use `return ...`); args are passed
  // as `arguments`. Returns the JSON-converted result.
  json execute(const std::string& script, const json& args = json::array()) {
    return command("POST", session_path("/execute/sync"),
                   json{{"script", script}, {"args", args}});
  }

  // Saves a PNG screenshot of the viewport; creates the parent folders.
  void screenshot(const std::filesystem::path& path) {
    std::string png =
        base64_decode(command("GET", session_path("/screenshot")).get<std::string>());
    if (path.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(path.parent_path(), ec);
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
    if (!out) {
      throw std::runtime_error("webdriver: screenshot: cannot write " +
                               path.string());
    }
  }

 private:
  static constexpr const char* kElementKey = "element-6066-11e4-a52e-4f735466cecf";

  Options opt_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string session_;

  // ------------------------------------------------------------ helpers

  static bool executable(const std::string& path) {
    return !path.empty() && ::access(path.c_str(), X_OK) == 0 &&
           std::filesystem::is_regular_file(path);
  }

  static void require_executable(const std::string& path, const char* what,
                                 const char* package) {
    if (!executable(path)) {
      throw std::runtime_error(std::string("webdriver: ") + what +
                               " not found or not executable at " + path +
                               " (Debian package: " + package + ")");
    }
  }

  static bool truthy(const json& v) {
    if (v.is_null()) return false;
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number()) return v.get<double>() != 0.0;
    if (v.is_string()) return !v.get<std::string>().empty();
    return true;
  }

  template <class F>
  static bool poll(std::chrono::milliseconds timeout, F&& ready) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (ready()) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  std::string session_path(const std::string& rest) const {
    return "/session/" + session_ + rest;
  }

  std::string element_path(const std::string& element,
                           const std::string& rest) const {
    return session_path("/element/" + element + rest);
  }

  static std::string element_id(const json& e) {
    if (!e.is_object() || !e.contains(kElementKey)) {
      throw std::runtime_error("webdriver: unexpected element reference: " +
                               e.dump());
    }
    return e[kElementKey].get<std::string>();
  }

  // A loopback port that was free a moment ago (the kernel picks it).
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("webdriver: socket(): " + errno_text());
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::string err = errno_text();
      ::close(fd);
      throw std::runtime_error("webdriver: cannot find a free port: " + err);
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  static std::string errno_text() { return std::strerror(errno); }

  // ------------------------------------------------------------ HTTP

  std::unique_ptr<httplib::Client> client(std::chrono::milliseconds timeout) const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_connection_timeout(2, 0);
    auto sec = static_cast<time_t>(timeout.count() / 1000);
    auto usec = static_cast<time_t>((timeout.count() % 1000) * 1000);
    c->set_read_timeout(sec, usec);
    c->set_write_timeout(sec, usec);
    c->set_keep_alive(false);
    return c;
  }

  // One WebDriver command; returns the response's "value", throws on error.
  json command(const std::string& method, const std::string& path,
               const json& body = nullptr) {
    return command(method, path, body, opt_.command_timeout);
  }

  json command(const std::string& method, const std::string& path,
               const json& body, std::chrono::milliseconds timeout) {
    auto c = client(timeout);
    std::string where = "webdriver: " + method + " " + path;
    std::string payload = body.is_null() ? std::string() : body.dump();
    httplib::Result res = method == "GET"      ? c->Get(path)
                          : method == "DELETE" ? c->Delete(path)
                                               : c->Post(path, payload, "application/json");
    if (!res) {
      throw std::runtime_error(where + ": no response (" +
                               httplib::to_string(res.error()) + ")");
    }
    json parsed = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      throw std::runtime_error(where + ": HTTP " + std::to_string(res->status) +
                               ", body is not JSON: " + res->body.substr(0, 200));
    }
    json value = parsed.value("value", json());
    if (res->status < 200 || res->status >= 300 ||
        (value.is_object() && value.contains("error"))) {
      std::string error = value.is_object() ? value.value("error", "") : "";
      std::string message = value.is_object() ? value.value("message", "") : "";
      throw std::runtime_error(where + ": HTTP " + std::to_string(res->status) +
                               ": " + error + ": " + first_line(message));
    }
    return value;
  }

  static std::string first_line(const std::string& s) {
    auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
  }

  // ------------------------------------------------------------ process

  void start_chromedriver() {
    std::string last_error;
    // An early exit may mean another process took the port: retry that
    // (a few times) but not a chromedriver that never became ready.
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_port();
      spawn_chromedriver();
      last_error = wait_ready();
      if (last_error.empty()) return;
      bool exited_early = pid_ <= 0;
      stop_chromedriver();
      if (!exited_early) break;
    }
    throw std::runtime_error("webdriver: chromedriver (" + opt_.chromedriver +
                             ") did not start: " + last_error);
  }

  void spawn_chromedriver() {
    // Everything the child needs is prepared before fork(): after fork() in a
    // multi-threaded process only async-signal-safe calls are allowed.
    std::vector<std::string> args = {opt_.chromedriver,
                                     "--port=" + std::to_string(port_),
                                     "--allowed-ips=127.0.0.1"};
    if (!opt_.chromedriver_log.empty()) {
      args.push_back("--log-path=" + opt_.chromedriver_log);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int pipefd[2];  // reports an exec failure (errno) back to the parent
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
      throw std::runtime_error("webdriver: pipe(): " + errno_text());
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      std::string err = errno_text();
      ::close(pipefd[0]);
      ::close(pipefd[1]);
      throw std::runtime_error("webdriver: fork(): " + err);
    }
    if (pid == 0) {
      ::setpgid(0, 0);  // own group: the browser dies with chromedriver
      int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      ::execv(argv[0], argv.data());
      int err = errno;
      ssize_t ignored = ::write(pipefd[1], &err, sizeof err);
      (void)ignored;
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here, so the group exists before we use it
    pid_ = pid;
    ::close(pipefd[1]);
    int child_errno = 0;
    ssize_t n;
    do {
      n = ::read(pipefd[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    ::close(pipefd[0]);
    if (n == sizeof child_errno) {
      reap_blocking();
      throw std::runtime_error("webdriver: cannot run " + opt_.chromedriver +
                               ": " + std::strerror(child_errno));
    }
  }

  // Polls GET /status until ready; returns "" or what went wrong.
  std::string wait_ready() {
    auto deadline = Clock::now() + opt_.startup_timeout;
    std::string last = "no answer on port " + std::to_string(port_);
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "it exited early (" + describe_status(status) + ")";
      }
      auto c = client(std::chrono::milliseconds(1000));
      if (auto res = c->Get("/status"); res && res->status == 200) {
        json body = json::parse(res->body, nullptr, false);
        if (!body.is_discarded() && body.contains("value") &&
            body["value"].value("ready", false)) {
          return "";
        }
        last = "/status says not ready: " + res->body.substr(0, 200);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "not ready after " + std::to_string(opt_.startup_timeout.count()) +
           " ms (" + last + ")";
  }

  static std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
  }

  void create_session() {
    json args = {"--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-dev-shm-usage", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions",
                 "--window-size=" + std::to_string(opt_.width) + "," +
                     std::to_string(opt_.height)};
    for (const auto& a : opt_.extra_args) args.push_back(a);
    json caps = {{"capabilities",
                  {{"alwaysMatch",
                    {{"browserName", "chrome"},
                     {"goog:chromeOptions",
                      {{"binary", opt_.chromium}, {"args", args}}}}}}}};
    json value;
    try {
      value = command("POST", "/session", caps,
                      std::max(opt_.command_timeout, std::chrono::milliseconds(60000)));
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("webdriver: cannot start a Chromium "
                                           "session (") + opt_.chromium +
                               "): " + e.what());
    }
    if (!value.is_object() || !value.contains("sessionId")) {
      throw std::runtime_error("webdriver: POST /session: no sessionId in " +
                               value.dump().substr(0, 200));
    }
    session_ = value["sessionId"].get<std::string>();
  }

  // Idempotent; never throws.
  void shutdown() noexcept {
    if (!session_.empty() && pid_ > 0) {
      try {
        command("DELETE", "/session/" + session_, nullptr,
                std::chrono::milliseconds(10000));
      } catch (...) {
        // the process group is killed below anyway
      }
    }
    session_.clear();
    stop_chromedriver();
  }

  // SIGTERM to the group, SIGKILL after a bound, then reap. Never throws.
  void stop_chromedriver() noexcept {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    exited_within(std::chrono::milliseconds(3000));
    // The leader is not reaped yet (WNOWAIT), so its group id is still ours:
    // kill whatever is left of the group (the browser and its helpers).
    ::kill(-pid_, SIGKILL);
    reap_blocking();
  }

  // Waits (bounded) for the child to exit, without reaping it.
  bool exited_within(std::chrono::milliseconds bound) noexcept {
    auto deadline = Clock::now() + bound;
    for (;;) {
      siginfo_t info{};
      info.si_pid = 0;
      if (::waitid(P_PID, static_cast<id_t>(pid_), &info,
                   WEXITED | WNOHANG | WNOWAIT) != 0) {
        return true;  // not our child any more (ECHILD): nothing to wait for
      }
      if (info.si_pid == pid_) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Reaps the child; it has been sent SIGKILL or has exited, so this is short.
  // Still bounded: gives up after a few seconds rather than hang.
  void reap_blocking() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    auto deadline = Clock::now() + std::chrono::milliseconds(5000);
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) break;
      if (Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }

  static std::string base64_decode(const std::string& in) {
    static constexpr unsigned char kInvalid = 0xFF;
    unsigned char table[256];
    std::memset(table, kInvalid, sizeof table);
    const char* alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(alphabet[i])] = i;
    std::string out;
    out.reserve(in.size() / 4 * 3);
    unsigned buffer = 0;
    int bits = 0;
    for (char ch : in) {
      if (ch == '=') break;
      unsigned char v = table[static_cast<unsigned char>(ch)];
      if (v == kInvalid) {
        if (ch == '\n' || ch == '\r' || ch == ' ') continue;
        throw std::runtime_error("webdriver: screenshot: invalid base64 data");
      }
      buffer = (buffer << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
      }
    }
    return out;
  }
};

}  // namespace funnel::test
