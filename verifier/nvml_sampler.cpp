#include "verifier/nvml_sampler.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace oomlint::verify {

namespace {

// NVML's ABI as documented (nvml.h): opaque device handles, int return codes (0 = success),
// and the process record of nvmlDeviceGetComputeRunningProcesses_v2/_v3.
using NvmlReturn = int;
using NvmlDevice = void*;
struct ProcessInfo {
  unsigned int pid;
  unsigned long long used_gpu_memory;
  unsigned int gpu_instance_id;
  unsigned int compute_instance_id;
};

int process_group(unsigned int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');
  if (close == std::string::npos) {
    return -1;
  }
  std::istringstream rest(line.substr(close + 2));
  char state = 0;
  int ppid = 0;
  int pgrp = -1;
  rest >> state >> ppid >> pgrp;
  return pgrp;
}

} // namespace

struct Nvml::Api {
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*count)(unsigned int*) = nullptr;
  NvmlReturn (*handle)(unsigned int, NvmlDevice*) = nullptr;
  NvmlReturn (*processes)(NvmlDevice, unsigned int*, ProcessInfo*) = nullptr;
};

Nvml::Nvml() : m_api(std::make_unique<Api>()) {
  m_lib = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (m_lib == nullptr) {
    m_problem = "NVML (libnvidia-ml.so.1) is not available: no process-level GPU figures, only PyTorch's allocator";
    return;
  }
  auto sym = [&](const char* name) { return ::dlsym(m_lib, name); };
  m_api->init = reinterpret_cast<NvmlReturn (*)()>(sym("nvmlInit_v2"));
  m_api->shutdown = reinterpret_cast<NvmlReturn (*)()>(sym("nvmlShutdown"));
  m_api->count = reinterpret_cast<NvmlReturn (*)(unsigned int*)>(sym("nvmlDeviceGetCount_v2"));
  m_api->handle = reinterpret_cast<NvmlReturn (*)(unsigned int, NvmlDevice*)>(sym("nvmlDeviceGetHandleByIndex_v2"));
  void* processes = sym("nvmlDeviceGetComputeRunningProcesses_v3");
  if (processes == nullptr) {
    processes = sym("nvmlDeviceGetComputeRunningProcesses_v2");
  }
  m_api->processes = reinterpret_cast<NvmlReturn (*)(NvmlDevice, unsigned int*, ProcessInfo*)>(processes);
  if (m_api->init == nullptr || m_api->count == nullptr || m_api->handle == nullptr || m_api->processes == nullptr) {
    m_problem = "NVML is missing functions oomlint needs; the driver may be too old";
    return;
  }
  if (m_api->init() != 0) {
    m_problem = "NVML did not initialise (no NVIDIA driver or GPU visible)";
    return;
  }
  m_ok = true;
}

Nvml::~Nvml() {
  if (m_ok && m_api->shutdown != nullptr) {
    m_api->shutdown();
  }
  if (m_lib != nullptr) {
    ::dlclose(m_lib);
  }
}

std::uint64_t Nvml::used_by_group(int pgid) const {
  if (!m_ok) {
    return 0;
  }
  unsigned int devices = 0;
  if (m_api->count(&devices) != 0) {
    return 0;
  }
  std::uint64_t total = 0;
  for (unsigned int d = 0; d < devices; ++d) {
    NvmlDevice device = nullptr;
    if (m_api->handle(d, &device) != 0) {
      continue;
    }
    std::vector<ProcessInfo> infos(64);
    auto n = static_cast<unsigned int>(infos.size());
    if (m_api->processes(device, &n, infos.data()) != 0) {
      continue;
    }
    for (unsigned int i = 0; i < n && i < infos.size(); ++i) {
      if (process_group(infos[i].pid) == pgid) {
        total += infos[i].used_gpu_memory;
      }
    }
  }
  return total;
}

NvmlSampler::NvmlSampler(const Nvml& nvml, int pgid, int period_ms)
    : m_nvml(nvml), m_pgid(pgid), m_period_ms(period_ms) {
  if (!m_nvml.available()) {
    return;
  }
  m_thread = std::thread([this] {
    while (!m_stop.load()) {
      m_series.push_back(m_nvml.used_by_group(m_pgid));
      std::this_thread::sleep_for(std::chrono::milliseconds(m_period_ms));
    }
  });
}

NvmlSampler::~NvmlSampler() {
  stop();
}

std::vector<std::uint64_t> NvmlSampler::stop() {
  m_stop.store(true);
  if (m_thread.joinable()) {
    m_thread.join();
  }
  return m_series;
}

} // namespace oomlint::verify
