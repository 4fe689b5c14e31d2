// A seed for a test's random choices, derived from the running test's name,
// so that a failure repeats run after run. Tests print it.
#ifndef HERALD_TESTING_SEED_H_
#define HERALD_TESTING_SEED_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace herald::testing {

inline std::uint64_t SeedFromTestName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

}  // namespace herald::testing

#endif  // HERALD_TESTING_SEED_H_
