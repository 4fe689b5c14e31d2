// `herald enqueue --jsonl`: any line is an event or one clear error, and an
// event it accepts renders as one valid JSON line in the sink.
#include <string>

#include "cli/event_line.h"
#include "core/json_text.h"
#include "fuzz.h"
#include "publish/file/event_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald;
  Result<Event> event = cli::EventFromJsonLine(fuzz::Text(data, size));
  if (!event) {
    HERALD_FUZZ_CHECK(event.error().code() == Code::kInvalidArgument);
    HERALD_FUZZ_CHECK(fuzz::Says(event.error().message()));
    return 0;
  }
  HERALD_FUZZ_CHECK(cli::CheckEvent(*event).ok());
  std::string line;
  publish::AppendEventJson(*event, line);
  HERALD_FUZZ_CHECK(IsJson(line));
  return 0;
}
