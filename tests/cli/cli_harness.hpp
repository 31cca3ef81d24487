#pragma once
// Runs the real `oomlint` binary in a scratch folder per test: its exit code, stdout and stderr.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace oomlint::test {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline void drain(int fd, std::string& into) {
  std::array<char, 65536> buf{};
  ssize_t n = 0;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
    into.append(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
}

// `as_uid`: run as that user (from root), to see what a file's permissions mean to everyone else.
inline Result run(const std::vector<std::string>& args, const fs::path& cwd = fs::current_path(),
                  const std::string& input = "", const std::vector<std::string>& env_extra = {}, int as_uid = -1) {
  int in_pipe[2];
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) {
    return {};
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      ::close(fd);
    }
    if (as_uid >= 0 && (::setgid(static_cast<gid_t>(as_uid)) != 0 || ::setuid(static_cast<uid_t>(as_uid)) != 0)) {
      ::_exit(126);
    }
    if (::chdir(cwd.c_str()) != 0) {
      ::_exit(127);
    }
    for (const std::string& e : env_extra) {
      ::putenv(const_cast<char*>(e.c_str()));
    }
    std::vector<char*> argv;
    std::string binary = OOMLINT_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  Result r;
  std::thread out_reader([&] { drain(out_pipe[0], r.out); });
  std::thread err_reader([&] { drain(err_pipe[0], r.err); });
  if (!input.empty()) {
    const ssize_t written = ::write(in_pipe[1], input.data(), input.size());
    (void)written;
  }
  ::close(in_pipe[1]);
  out_reader.join();
  err_reader.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline const char* kLeaky = "import torch\n"
                            "def train(model, loader, criterion, optimizer):\n"
                            "    running = 0.0\n"
                            "    for x, y in loader:\n"
                            "        loss = criterion(model(x), y)\n"
                            "        loss.backward()\n"
                            "        optimizer.step()\n"
                            "        running += loss\n"
                            "    state = torch.load('ckpt.pt')\n";

class Cli : public ::testing::Test {
protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() /
            (std::string("oomlint-cli-") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
             std::to_string(::getpid()));
    fs::remove_all(m_dir);
    fs::create_directories(m_dir);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(m_dir, fs::perms::all, ec);
    fs::remove_all(m_dir, ec);
  }
  fs::path write(const std::string& name, const std::string& text) {
    fs::create_directories((m_dir / name).parent_path());
    std::ofstream(m_dir / name, std::ios::binary) << text;
    return m_dir / name;
  }
  // A stand-in program (a fake Python): written, then made executable.
  fs::path write_executable(const std::string& name, const std::string& text) {
    const fs::path path = write(name, text);
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }
  fs::path m_dir;
};

} // namespace oomlint::test
