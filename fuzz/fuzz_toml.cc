// The configuration file: any bytes give a configuration or one clear
// error naming the file, never a crash (toml++ recursed on deep keys).
#include <unistd.h>

#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "cli/config.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald;
  static const std::string path = fmt::format("/tmp/herald-fuzz-toml-{}.toml", ::getpid());
  std::FILE* file = std::fopen(path.c_str(), "wb");
  HERALD_FUZZ_CHECK(file != nullptr);
  HERALD_FUZZ_CHECK(std::fwrite(data, 1, size, file) == size);
  std::fclose(file);
  cli::CommandLine line;
  line.config_file = path;
  Result<cli::Config> config =
      cli::LoadConfig(line, [](std::string_view) -> std::optional<std::string> { return {}; });
  if (!config) {
    HERALD_FUZZ_CHECK(config.error().code() == Code::kInvalidArgument);
    HERALD_FUZZ_CHECK(fuzz::Says(config.error().message()));
  }
  return 0;
}
