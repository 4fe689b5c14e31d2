// The file sink's rendering of any event a store can hold (fields written
// by hand in SQL included): always one valid JSON line, whatever the bytes
// or the nesting. Also the stored headers' text: decoded without recursion,
// and what is decoded encodes and decodes back to itself.
#include <string>
#include <string_view>
#include <vector>

#include "core/json_text.h"
#include "fuzz.h"
#include "herald/event.h"
#include "publish/file/event_json.h"
#include "store/common/store_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald;
  // The input is the fields separated by NUL bytes: topic, key, type,
  // content type, headers text, payload (the rest, NULs and all).
  std::string_view input = fuzz::Text(data, size);
  std::vector<std::string_view> fields;
  for (int i = 0; i < 5; ++i) {
    std::size_t nul = input.find('\0');
    fields.push_back(input.substr(0, nul));
    input = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  }
  Event event = Event::Make(std::string(fields[0]), std::string(fields[1]),
                            std::string(fields[2]), std::string(input));
  event.content_type = std::string(fields[3]);
  Result<Headers> headers = store_internal::DecodeHeaders(std::string(fields[4]));
  if (headers) {
    event.headers = *headers;
    if (IsUtf8(fields[4])) {
      Result<std::string> encoded = store_internal::EncodeHeaders(*headers);
      HERALD_FUZZ_CHECK(encoded.has_value());
      Result<Headers> again = store_internal::DecodeHeaders(*encoded);
      HERALD_FUZZ_CHECK(again.has_value() && *again == *headers);
    }
  } else {
    HERALD_FUZZ_CHECK(fuzz::Says(headers.error().message()));
    event.headers = {{std::string(fields[4]), std::string(fields[1])}};
  }
  std::string line;
  publish::AppendEventJson(event, line, R"(,"attempts":1)");
  HERALD_FUZZ_CHECK(IsJson(line));
  HERALD_FUZZ_CHECK(line.find('\n') == std::string::npos);
  return 0;
}
