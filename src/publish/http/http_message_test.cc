#include "publish/http/http_message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "publish/http/webhook_signature.h"

namespace herald::publish {
namespace {

std::map<std::string, std::string> AsMap(const HttpHeaders& headers) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : headers) {
    EXPECT_TRUE(out.emplace(name, value).second) << "header " << name << " twice";
  }
  return out;
}

TEST(HttpMessageTest, SingleModeHeadersAreTheCloudEventsBinaryModeAndTheIdempotencyKey) {
  Event e = Event::Make("orders", "acct-1", "OrderPlaced", R"({"n":1})");
  e.headers["traceparent"] = "00-abc-def-01";
  e.headers["ce-id"] = "forged";           // the attribute wins
  e.headers["Content-Type"] = "text/x";     // reserved
  e.headers["Idempotency-Key"] = "forged";  // reserved
  e.headers["webhook-id"] = "forged";       // reserved
  auto h = AsMap(SingleRequestHeaders(e, {.source = "/billing", .subject_from_key = true}));
  const std::string id = e.id.ToString();
  EXPECT_EQ(h["ce-id"], id);
  EXPECT_EQ(h["ce-type"], "OrderPlaced");
  EXPECT_EQ(h["ce-source"], "/billing");
  EXPECT_EQ(h["ce-time"], FormatRfc3339(e.created_at));
  EXPECT_EQ(h["ce-specversion"], "1.0");
  EXPECT_EQ(h["ce-subject"], "acct-1");
  EXPECT_EQ(h["content-type"], "application/json");
  EXPECT_EQ(h["Idempotency-Key"], id);
  EXPECT_EQ(h["traceparent"], "00-abc-def-01");
  EXPECT_EQ(h.size(), 9u);
  Event no_key = Event::Make("orders", "", "T", "x");
  EXPECT_FALSE(AsMap(SingleRequestHeaders(no_key, {.subject_from_key = true})).contains("ce-subject"));
}

TEST(HttpMessageTest, HeadersThatCannotBeSentAreNamed) {
  Event e = Event::Make("t", "k", "T", "{}");
  EXPECT_EQ(CheckHttpHeaders(e), "");
  e.headers["bad name"] = "v";
  EXPECT_THAT(CheckHttpHeaders(e), ::testing::HasSubstr("'bad name'"));
  e.headers.clear();
  e.headers["x-ok"] = "line\r\nInjected: yes";
  EXPECT_THAT(CheckHttpHeaders(e), ::testing::HasSubstr("'x-ok'"));
}

TEST(HttpMessageTest, BatchBodyIsAnArrayOfStructuredCloudEvents) {
  Event json = Event::Make("orders", "acct-1", "OrderPlaced", R"({"n":1})");
  json.headers["traceparent"] = "00-abc-def-01";
  json.headers["X-Not-An-Extension"] = "left out";
  Event binary = Event::Make("orders", "", "Blob", std::string("\x00\xff", 2));
  binary.content_type = "application/octet-stream";
  Event broken = Event::Make("orders", "k", "T", "{not json");
  std::vector<const Event*> events = {&json, &binary, &broken};
  auto body = nlohmann::json::parse(BatchBody(events, {.source = "herald", .subject_from_key = true}));
  ASSERT_TRUE(body.is_array());
  ASSERT_EQ(body.size(), 3u);
  EXPECT_EQ(body[0]["specversion"], "1.0");
  EXPECT_EQ(body[0]["id"], json.id.ToString());
  EXPECT_EQ(body[0]["type"], "OrderPlaced");
  EXPECT_EQ(body[0]["source"], "herald");
  EXPECT_EQ(body[0]["time"], FormatRfc3339(json.created_at));
  EXPECT_EQ(body[0]["subject"], "acct-1");
  EXPECT_EQ(body[0]["datacontenttype"], "application/json");
  EXPECT_EQ(body[0]["data"], nlohmann::json::parse(R"({"n":1})"));
  EXPECT_EQ(body[0]["traceparent"], "00-abc-def-01");
  EXPECT_FALSE(body[0].contains("X-Not-An-Extension"));
  EXPECT_FALSE(body[1].contains("subject"));
  EXPECT_FALSE(body[1].contains("data"));
  EXPECT_EQ(Base64Decode(body[1]["data_base64"].get<std::string>()), binary.payload);
  EXPECT_EQ(Base64Decode(body[2]["data_base64"].get<std::string>()), broken.payload);
}

TEST(HttpMessageTest, TheBatchIdDependsOnTheEventsOnly) {
  Event a = Event::Make("t", "k", "T", "1");
  Event b = Event::Make("t", "k", "T", "2");
  std::vector<const Event*> ab = {&a, &b};
  std::vector<const Event*> ba = {&b, &a};
  EXPECT_EQ(BatchId(ab), BatchId(ab));
  EXPECT_NE(BatchId(ab), BatchId(ba));
  EXPECT_TRUE(BatchId(ab).starts_with("batch_"));
  EXPECT_EQ(BatchId(ab).size(), 6u + 32u);
}

}  // namespace
}  // namespace herald::publish
