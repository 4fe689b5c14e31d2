#include "core/base64.h"

#include <gtest/gtest.h>

#include <random>

#include "testing/seed.h"

namespace herald {
namespace {

// RFC 4648, section 10.
TEST(Base64Test, TheRfcVectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    EXPECT_EQ(Base64Decode(encoded), std::optional<std::string>(plain)) << encoded;
  }
}

TEST(Base64Test, RefusesAnythingButCanonicalBase64) {
  for (std::string_view bad : {"Zg", "Zg=", "Z===", "Zm9v\n", " Zm9v", "Zm9v=", "Zg==Zg==",
                               "Zh==", "Zm9=", "Zm-v", "Zm_v"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

TEST(Base64Test, EveryByteStringRoundTrips) {
  std::mt19937_64 rng(testing::SeedFromTestName());
  std::uniform_int_distribution<int> byte(0, 255), size(0, 64);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(static_cast<std::size_t>(size(rng)), '\0');
    for (char& c : bytes) c = static_cast<char>(byte(rng));
    EXPECT_EQ(Base64Decode(Base64Encode(bytes)), std::optional<std::string>(bytes));
  }
}

}  // namespace
}  // namespace herald
