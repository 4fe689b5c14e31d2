// What every fuzz target shares. A target is one file fuzz_<name>.cc that
// defines LLVMFuzzerTestOneInput; a broken property aborts (a crash to the
// fuzzer), whatever the build type.
#ifndef HERALD_FUZZ_FUZZ_H_
#define HERALD_FUZZ_FUZZ_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define HERALD_FUZZ_CHECK(condition)                                                  \
  do {                                                                                \
    if (!(condition)) {                                                               \
      std::fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (false)

namespace herald::fuzz {

inline std::string_view Text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// An error for bad input says something (the CLI prints it on one line,
// whatever it quotes).
inline bool Says(std::string_view message) { return !message.empty(); }

}  // namespace herald::fuzz

#endif  // HERALD_FUZZ_FUZZ_H_
