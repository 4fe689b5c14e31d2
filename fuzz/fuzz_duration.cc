// Durations as flags, variables and TOML give them: parsed exactly, or
// refused; never a negative or overflowed value.
#include <string>

#include "core/duration.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald;
  const std::string_view text = fuzz::Text(data, size);
  Result<std::chrono::milliseconds> d = ParseDuration(text);
  if (!d) {
    HERALD_FUZZ_CHECK(d.error().code() == Code::kInvalidArgument);
    return 0;
  }
  HERALD_FUZZ_CHECK(d->count() >= 0);
  // What was accepted reads back the same from its shortest form.
  Result<std::chrono::milliseconds> again = ParseDuration(FormatDuration(*d));
  HERALD_FUZZ_CHECK(again.has_value() && *again == *d);
  return 0;
}
