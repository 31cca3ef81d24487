#include "analyzer/fix/atomic_write.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace oomlint {

namespace {

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool write_in_place(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  bool ok = write_all(fd, bytes) && ::fsync(fd) == 0;
  const int saved = errno;
  ok = (::close(fd) == 0) && ok;
  errno = saved;
  return ok;
}

} // namespace

Expected<bool> write_file_atomically(const std::string& path, std::string_view bytes, std::string_view expected_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error{fmt::format("cannot write the fix: the file is gone ({})", std::strerror(errno)), path};
  }
  {
    std::ifstream in(path, std::ios::binary);
    const std::string now((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return Error{"cannot re-read the file before writing the fix; nothing was written", path};
    }
    if (now != expected_bytes) {
      return Error{"the file changed on disk while oomlint ran; nothing was written: run oomlint again", path};
    }
  }
  if ((st.st_mode & 0222) == 0) {
    return Error{fmt::format("is read-only (mode {:04o}); the fix was not written: make it writable (chmod u+w) "
                             "to apply fixes",
                             st.st_mode & 07777),
                 path};
  }
  // A symlink is fixed in its target, so the link itself stays a link.
  std::error_code ec;
  const std::filesystem::path target = std::filesystem::canonical(path, ec);
  const std::string real = ec ? path : target.string();
  const std::string dir = std::filesystem::path(real).parent_path().string();
  std::string temp = (dir.empty() ? std::string(".") : dir) + "/." + std::filesystem::path(real).filename().string() +
                     ".oomlint-XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    return Error{
        fmt::format("cannot create a temporary file beside it ({}); nothing was written", std::strerror(errno)), path};
  }
  // Owner and group first (as root, or unchanged for the file's owner): chown clears the
  // setuid and setgid bits, so the mode is set after it.
  if (::fchown(fd, st.st_uid, st.st_gid) != 0) {
    (void)0; // not allowed for other users' files: the new file keeps ours, like any editor
  }
  bool ok = write_all(fd, bytes) && ::fchmod(fd, st.st_mode & 07777) == 0 && ::fsync(fd) == 0;
  int saved = errno;
  ok = (::close(fd) == 0) && ok;
  if (ok && st.st_nlink > 1) {
    // Renaming over a hard-linked file would split it from its other names. Write it in place
    // instead; the complete new text stays in the temporary file until that has succeeded.
    ok = write_in_place(real, bytes);
    saved = errno;
    if (ok) {
      ::unlink(temp.c_str());
      return true;
    }
    return Error{
        fmt::format("cannot write the fix in place ({}); the fixed text is kept in {}", std::strerror(saved), temp),
        path};
  }
  if (ok) {
    ok = ::rename(temp.c_str(), real.c_str()) == 0;
    saved = ok ? saved : errno;
  }
  if (!ok) {
    ::unlink(temp.c_str());
    return Error{
        fmt::format("cannot write the fix ({}); the file was left as it was", std::strerror(saved ? saved : errno)),
        path};
  }
  return true;
}

} // namespace oomlint
