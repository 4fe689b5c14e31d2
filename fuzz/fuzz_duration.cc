// Durations as flags, variables and TOML give them: parsed exactly, or
// refused; never a negative or overflowed value.
#include <string>

#include "cli/config.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald;
  const std::string_view text = fuzz::Text(data, size);
  Result<std::chrono::milliseconds> d = cli::ParseDuration(text);
  if (!d) {
    HERALD_FUZZ_CHECK(d.error().code() == Code::kInvalidArgument);
    return 0;
  }
  HERALD_FUZZ_CHECK(d->count() >= 0);
  // What was accepted is digits and a unit; the digits alone are its count
  // of that unit.
  HERALD_FUZZ_CHECK(!text.empty() && text.front() >= '0' && text.front() <= '9');
  return 0;
}
