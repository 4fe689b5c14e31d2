// Internal: what the HTTP publisher sends for events, apart from the
// transport. Single mode: one event per request in the CloudEvents HTTP
// binding's binary content mode (the body is the payload, the attributes are
// `ce-*` headers, from publish/common/cloud_events.h). Batch mode: one
// request of application/cloudevents-batch+json, a JSON array of events in
// structured content mode.
#ifndef HERALD_PUBLISH_HTTP_HTTP_MESSAGE_H_
#define HERALD_PUBLISH_HTTP_HTTP_MESSAGE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/event.h"
#include "publish/common/cloud_events.h"

namespace herald::publish {

inline constexpr std::string_view kCloudEventsBatchContentType =
    "application/cloudevents-batch+json";

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Empty when `event` can be sent as headers; otherwise why not (an event
// header whose name is not an HTTP token, or whose value holds CR, LF or
// NUL).
std::string CheckHttpHeaders(const Event& event);

// True for a header name the publisher sets itself (CloudEvents, content
// type, Idempotency-Key, webhook-*, and the transport's own: Host,
// Content-Length, Transfer-Encoding, Connection, Expect, ...), compared
// without case. An event header of such a name is left out.
bool IsReservedHttpHeader(std::string_view name);

// The headers of a single-mode request for `event`, without the signature:
// the `ce-*` attributes (ce-subject = the key, when there is one),
// content-type, Idempotency-Key = the event id, then the event's own
// headers not reserved. REQUIRES: CheckHttpHeaders(event) is empty.
HttpHeaders SingleRequestHeaders(const Event& event, const CloudEventsOptions& options);

// The events as a JSON array of structured CloudEvents: specversion, id,
// source, type, time, subject (the key, when there is one),
// datacontenttype, then `data` (the payload parsed, for a JSON content type
// whose payload parses) or `data_base64`, and each event header whose name
// is a valid CloudEvents extension name (a-z, 0-9, at most 20 characters,
// not a core attribute) as an extension attribute; other headers are left
// out.
std::string BatchBody(std::span<const Event* const> events, const CloudEventsOptions& options);

// The Idempotency-Key and webhook-id of a batch: "batch_" and the first 32
// hex digits of the SHA-256 of its event ids, so that the same events make
// the same key.
std::string BatchId(std::span<const Event* const> events);

}  // namespace herald::publish

#endif  // HERALD_PUBLISH_HTTP_HTTP_MESSAGE_H_
