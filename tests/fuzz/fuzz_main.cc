// hvmd-fuzz: fuzzes the device models through the same dispatcher the transports use, and the
// management side (-target=qmp|qtest|cmdline, fuzz_management.h) and the VNC server
// (-target=vnc, fuzz_vnc.h).
//
//   libFuzzer build (clang, -DHVMD_LIBFUZZER=ON):
//       hvmd-fuzz [-target=NAME] [-state] [-device=SPEC]... [-drive=SPEC]... [libFuzzer flags]
//       CORPUS
//   plain build (any compiler):
//       hvmd-fuzz [-target=NAME] [-state] [-device=SPEC]... [-drive=SPEC]... [-runs=N] [-seed=S]
//                 FILE|DIR...
//       hvmd-fuzz -state [-device=SPEC]... [-drive=SPEC]... -write-seed=OUT OPS-FILE
//
// -state: inputs are device-state streams followed by operations (FuzzMachine::run_state);
// -write-seed runs OPS-FILE's operations and writes the machine's saved state as such an input.
// -drive=SPEC adds a drive as -drive does (if=ide,index=N[,media=cdrom]); its image is in
// memory, zeroed for every input.
// The plain build replays files (a corpus, or a crash reproducer) and can run N pseudo-random
// inputs; both builds decode inputs the same way (fuzz_machine.cc).
#include <dirent.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dm/log.h"
#include "tests/fuzz/fuzz_machine.h"
#include "tests/fuzz/fuzz_management.h"
#include "tests/fuzz/fuzz_passthrough.h"
#include "tests/fuzz/fuzz_vnc.h"

namespace {

std::vector<std::string> g_devices;
std::vector<std::string> g_drives;
std::string g_target = "machine";  // guest accesses (fuzz_machine.cc)
bool g_state = false;

void parse_devices(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "-device=", 8) == 0) g_devices.emplace_back(argv[i] + 8);
    if (strncmp(argv[i], "-drive=", 7) == 0) g_drives.emplace_back(argv[i] + 7);
    if (strncmp(argv[i], "-target=", 8) == 0) g_target = argv[i] + 8;
    if (strcmp(argv[i], "-state") == 0) g_state = true;
  }
}

std::unique_ptr<hvmd::fuzz::FuzzMachine> g_machine;

void run_one(const uint8_t* data, size_t size) {
  if (g_target == "passthrough") return hvmd::fuzz::run_passthrough_target(data, size);
  if (g_target == "vnc") return hvmd::fuzz::run_vnc_target(data, size);
  if (g_target != "machine") {
    if (hvmd::fuzz::run_management_target(g_target, *g_machine, data, size)) return;
    fprintf(stderr,
            "hvmd-fuzz: unknown -target=%s (machine, qmp, qtest, cmdline, passthrough, vnc)\n",
            g_target.c_str());
    exit(1);
  }
  auto ran = g_state ? g_machine->run_state(data, size) : g_machine->run(data, size);
  if (!ran) {
    fprintf(stderr, "hvmd-fuzz: %s\n", ran.error().message.c_str());
    exit(1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  parse_devices(*argc, *argv);
  g_machine = std::make_unique<hvmd::fuzz::FuzzMachine>(g_devices, g_drives);
  // Guest-caused warnings are expected here; HVMD_FUZZ_LOG=1 shows them (to see what a
  // reproducer does).
  if (!getenv("HVMD_FUZZ_LOG")) hvmd::log::set_level(hvmd::log::Level::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run_one(data, size);
  return 0;
}

#ifndef HVMD_LIBFUZZER
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    fprintf(stderr, "hvmd-fuzz: cannot read '%s'\n", path.c_str());
    exit(1);
  }
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

bool replay_file(const std::string& path) {
  std::vector<uint8_t> data = read_file(path);
  run_one(data.data(), data.size());
  return true;
}

int write_seed(const std::string& out_path, const std::string& ops_path) {
  std::vector<uint8_t> ops = read_file(ops_path);
  auto seed = g_machine->state_seed(ops.data(), ops.size());
  if (!seed) {
    fprintf(stderr, "hvmd-fuzz: %s\n", seed.error().message.c_str());
    return 1;
  }
  std::ofstream out(out_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(seed->data()),
            static_cast<std::streamsize>(seed->size()));
  return out ? 0 : 1;
}

int replay_path(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    fprintf(stderr, "hvmd-fuzz: cannot read '%s'\n", path.c_str());
    exit(1);
  }
  if (!S_ISDIR(st.st_mode)) return replay_file(path) ? 1 : 0;
  int count = 0;
  DIR* dir = opendir(path.c_str());
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    count += replay_path(path + "/" + entry->d_name);
  }
  closedir(dir);
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  long runs = 0;
  unsigned long seed = 1;
  int replayed = 0;
  std::string seed_out;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.starts_with("-device=") || arg.starts_with("-drive=") || arg.starts_with("-target=") ||
        arg == "-state")
      continue;
    if (arg.starts_with("-write-seed=")) {
      seed_out = arg.substr(12);
    } else if (!seed_out.empty() && !arg.starts_with("-")) {
      return write_seed(seed_out, arg);
    } else if (arg.starts_with("-runs=")) {
      runs = strtol(arg.c_str() + 6, nullptr, 10);
    } else if (arg.starts_with("-seed=")) {
      seed = strtoul(arg.c_str() + 6, nullptr, 10);
    } else if (arg.starts_with("-")) {
      fprintf(stderr, "hvmd-fuzz: unknown option '%s'\n", arg.c_str());
      return 1;
    } else {
      replayed += replay_path(arg);
    }
  }
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> input;
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < runs; ++i) {
    input.resize(rng() % 2048);
    // Eight bytes per draw: generating the input must not cost more than running it.
    for (size_t at = 0; at < input.size(); at += 8) {
      uint64_t bits = rng();
      memcpy(input.data() + at, &bits, std::min<size_t>(8, input.size() - at));
    }
    run_one(input.data(), input.size());
  }
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  printf("hvmd-fuzz: %d corpus inputs replayed, %ld random inputs run (%.0f/s), no crash\n",
         replayed, runs, runs ? runs / took.count() : 0.0);
  return 0;
}
#endif
