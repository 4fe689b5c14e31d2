// Internal: the CloudEvents 1.0 attributes of an event in binary content
// mode, under the header names of each protocol binding. Every publisher
// whose bus has headers takes its CloudEvents mapping from here.
//
//   attribute        value                                   Kafka           NATS, HTTP,   AMQP
//                                                                            Redis
//   id               event id                                ce_id           ce-id         cloudEvents:id
//   type             event type                              ce_type         ce-type       cloudEvents:type
//   source           CloudEventsOptions::source              ce_source       ce-source     cloudEvents:source
//   time             created_at, RFC 3339 UTC, milliseconds  ce_time         ce-time       cloudEvents:time
//   specversion      "1.0"                                   ce_specversion  ce-specversion cloudEvents:specversion
//   subject          event key (when mapped and not empty)   ce_subject      ce-subject    cloudEvents:subject
//   datacontenttype  content type                            content-type    content-type  content-type
//
// `datacontenttype` is the protocol's own content-type header (for AMQP, the
// message's content-type property rather than an application property).
#ifndef HERALD_PUBLISH_COMMON_CLOUD_EVENTS_H_
#define HERALD_PUBLISH_COMMON_CLOUD_EVENTS_H_

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "herald/event.h"

namespace herald::publish {

inline constexpr std::string_view kCloudEventsSpecVersion = "1.0";

// The protocol bindings of CloudEvents 1.0 that Herald speaks.
enum class CloudEventsBinding {
  kKafka,  // "ce_" prefix
  kNats,   // "ce-" prefix
  kHttp,   // "ce-" prefix
  kAmqp,   // "cloudEvents:" prefix
  kRedis,  // "ce-" prefix (stream entry fields; Redis has no binding of its own)
};

enum class CloudEventsAttribute {
  kId,
  kType,
  kSource,
  kTime,
  kSpecVersion,
  kSubject,
  kDataContentType,
};

// The header that carries `attribute` in `binding`.
std::string_view CloudEventsHeaderName(CloudEventsBinding binding, CloudEventsAttribute attribute);

struct CloudEventsOptions {
  // The `source` attribute: who proclaims the events.
  std::string source = "herald";
  // Whether the `subject` attribute carries the event's key (only for
  // events with a key). Off where the bus has a key of its own (Kafka's
  // message key).
  bool subject_from_key = false;
};

struct CloudEventsHeader {
  CloudEventsAttribute attribute;
  std::string_view name;
  std::string_view value;
};

// The attributes of one event as headers, in the order id, type, source,
// time, specversion, [subject,] datacontenttype. Views into `event` and
// `options` (and into this object for id and time): all three must outlive
// it. Not copyable, so that the views into itself stay valid.
class CloudEventsHeaders {
 public:
  CloudEventsHeaders(const Event& event, const CloudEventsOptions& options,
                     CloudEventsBinding binding);
  CloudEventsHeaders(const CloudEventsHeaders&) = delete;
  CloudEventsHeaders& operator=(const CloudEventsHeaders&) = delete;

  std::span<const CloudEventsHeader> headers() const { return {headers_.data(), count_}; }
  auto begin() const { return headers().begin(); }
  auto end() const { return headers().end(); }
  std::size_t size() const { return count_; }

 private:
  std::string id_;
  std::string time_;
  std::array<CloudEventsHeader, 7> headers_{};
  std::size_t count_ = 0;
};

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_COMMON_CLOUD_EVENTS_H_
