// Events for the stores' tests: one with every field set, and a field-by-field
// comparison of what a store gave back with what went in.
#ifndef HERALD_TESTING_EVENTS_H_
#define HERALD_TESTING_EVENTS_H_

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "herald/event.h"

namespace herald::testing {

// An event with every field set (headers that need escaping included),
// created_at at millisecond precision.
inline Event FullEvent(std::string topic, std::string key, std::string payload) {
  Event e = Event::Make(std::move(topic), std::move(key), "Something.Happened", std::move(payload));
  e.content_type = "application/octet-stream";
  e.headers = {{"traceparent", "00-abc-def-01"}, {"tenant", "t\xc3\xa9nant"}, {"q", "a\"b\\c"}};
  return e;
}

// Every field equal; created_at to the millisecond, as stores keep it.
inline void ExpectSameEvent(const Event& got, const Event& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.topic, want.topic);
  EXPECT_EQ(got.key, want.key);
  EXPECT_EQ(got.type, want.type);
  EXPECT_EQ(got.payload, want.payload);
  EXPECT_EQ(got.content_type, want.content_type);
  EXPECT_EQ(got.headers, want.headers);
  EXPECT_EQ(ToUnixMillis(got.created_at), ToUnixMillis(want.created_at));
}

}  // namespace herald::testing

#endif  // HERALD_TESTING_EVENTS_H_
