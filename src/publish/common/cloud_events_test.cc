#include "publish/common/cloud_events.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace herald::publish {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs Collect(const CloudEventsHeaders& headers) {
  Pairs out;
  for (const CloudEventsHeader& h : headers) out.emplace_back(h.name, h.value);
  return out;
}

Event Sample() {
  Event e = Event::Make("orders", "acct-7", "OrderPlaced", "{}");
  e.created_at = FromUnixMillis(1796062644123);
  e.content_type = "application/json";
  return e;
}

TEST(CloudEventsTest, KafkaBindingUsesUnderscoresAndNoSubjectByDefault) {
  const Event e = Sample();
  const CloudEventsOptions options{.source = "/billing"};
  CloudEventsHeaders headers(e, options, CloudEventsBinding::kKafka);
  EXPECT_EQ(Collect(headers), (Pairs{{"ce_id", e.id.ToString()},
                                     {"ce_type", "OrderPlaced"},
                                     {"ce_source", "/billing"},
                                     {"ce_time", FormatRfc3339(e.created_at)},
                                     {"ce_specversion", "1.0"},
                                     {"content-type", "application/json"}}));
}

TEST(CloudEventsTest, NatsAndHttpBindingsUseDashesAndTheKeyAsSubject) {
  const Event e = Sample();
  const CloudEventsOptions options{.source = "herald", .subject_from_key = true};
  for (CloudEventsBinding binding : {CloudEventsBinding::kNats, CloudEventsBinding::kHttp}) {
    CloudEventsHeaders headers(e, options, binding);
    EXPECT_EQ(Collect(headers), (Pairs{{"ce-id", e.id.ToString()},
                                       {"ce-type", "OrderPlaced"},
                                       {"ce-source", "herald"},
                                       {"ce-time", FormatRfc3339(e.created_at)},
                                       {"ce-specversion", "1.0"},
                                       {"ce-subject", "acct-7"},
                                       {"content-type", "application/json"}}));
  }
}

TEST(CloudEventsTest, AnEmptyKeyHasNoSubject) {
  Event e = Sample();
  e.key.clear();
  const CloudEventsOptions options{.subject_from_key = true};
  CloudEventsHeaders headers(e, options, CloudEventsBinding::kNats);
  for (const CloudEventsHeader& h : headers) {
    EXPECT_NE(h.attribute, CloudEventsAttribute::kSubject);
  }
  EXPECT_EQ(headers.size(), 6u);
}

TEST(CloudEventsTest, AmqpBindingUsesTheCloudEventsPrefix) {
  EXPECT_EQ(CloudEventsHeaderName(CloudEventsBinding::kAmqp, CloudEventsAttribute::kId),
            "cloudEvents:id");
  EXPECT_EQ(CloudEventsHeaderName(CloudEventsBinding::kAmqp, CloudEventsAttribute::kSubject),
            "cloudEvents:subject");
  EXPECT_EQ(CloudEventsHeaderName(CloudEventsBinding::kAmqp,
                                  CloudEventsAttribute::kDataContentType),
            "content-type");
  const Event e = Sample();
  CloudEventsHeaders headers(e, CloudEventsOptions{}, CloudEventsBinding::kAmqp);
  EXPECT_EQ(headers.headers()[0].name, "cloudEvents:id");
  EXPECT_EQ(headers.headers()[0].value, e.id.ToString());
  EXPECT_EQ(headers.headers()[2].value, "herald");
}

}  // namespace
}  // namespace herald::publish
