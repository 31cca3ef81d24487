#pragma once
// What `nvidia-smi` sees: the GPU memory NVML attributes to a process group, sampled on a
// thread while a verification run executes. NVML is loaded with dlopen, so oomlint has no
// link-time GPU dependency; without it the sampler says why and records nothing.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace oomlint::verify {

class Nvml {
public:
  Nvml();
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;
  Nvml(Nvml&&) = delete;
  Nvml& operator=(Nvml&&) = delete;
  [[nodiscard]] bool available() const { return m_ok; }
  [[nodiscard]] const std::string& problem() const { return m_problem; }
  // Bytes of GPU memory used by processes in the process group `pgid`, over all devices.
  [[nodiscard]] std::uint64_t used_by_group(int pgid) const;

private:
  struct Api;
  void* m_lib = nullptr;
  std::unique_ptr<Api> m_api;
  bool m_ok = false;
  std::string m_problem;
};

class NvmlSampler {
public:
  NvmlSampler(const Nvml& nvml, int pgid, int period_ms = 100);
  ~NvmlSampler();
  NvmlSampler(const NvmlSampler&) = delete;
  NvmlSampler& operator=(const NvmlSampler&) = delete;
  NvmlSampler(NvmlSampler&&) = delete;
  NvmlSampler& operator=(NvmlSampler&&) = delete;
  std::vector<std::uint64_t> stop();

private:
  const Nvml& m_nvml;
  int m_pgid;
  int m_period_ms;
  std::atomic<bool> m_stop{false};
  std::vector<std::uint64_t> m_series;
  std::thread m_thread;
};

} // namespace oomlint::verify
