#include "publish/common/cloud_events.h"

namespace herald::publish {
namespace {

struct Names {
  std::string_view id;
  std::string_view type;
  std::string_view source;
  std::string_view time;
  std::string_view specversion;
  std::string_view subject;
  std::string_view datacontenttype;
};

constexpr Names kKafkaNames{"ce_id",          "ce_type",    "ce_source",   "ce_time",
                            "ce_specversion", "ce_subject", "content-type"};
constexpr Names kDashNames{"ce-id",          "ce-type",    "ce-source",   "ce-time",
                           "ce-specversion", "ce-subject", "content-type"};
constexpr Names kAmqpNames{"cloudEvents:id",          "cloudEvents:type",
                           "cloudEvents:source",      "cloudEvents:time",
                           "cloudEvents:specversion", "cloudEvents:subject",
                           "content-type"};

const Names& NamesOf(CloudEventsBinding binding) {
  switch (binding) {
    case CloudEventsBinding::kKafka:
      return kKafkaNames;
    case CloudEventsBinding::kNats:
    case CloudEventsBinding::kHttp:
    case CloudEventsBinding::kRedis:
      return kDashNames;
    case CloudEventsBinding::kAmqp:
      return kAmqpNames;
  }
  return kDashNames;
}

}  // namespace

std::string_view CloudEventsHeaderName(CloudEventsBinding binding,
                                       CloudEventsAttribute attribute) {
  const Names& names = NamesOf(binding);
  switch (attribute) {
    case CloudEventsAttribute::kId:
      return names.id;
    case CloudEventsAttribute::kType:
      return names.type;
    case CloudEventsAttribute::kSource:
      return names.source;
    case CloudEventsAttribute::kTime:
      return names.time;
    case CloudEventsAttribute::kSpecVersion:
      return names.specversion;
    case CloudEventsAttribute::kSubject:
      return names.subject;
    case CloudEventsAttribute::kDataContentType:
      return names.datacontenttype;
  }
  return {};
}

CloudEventsHeaders::CloudEventsHeaders(const Event& event, const CloudEventsOptions& options,
                                       CloudEventsBinding binding)
    : id_(event.id.ToString()), time_(FormatRfc3339(event.created_at)) {
  const Names& names = NamesOf(binding);
  auto add = [this](CloudEventsAttribute attribute, std::string_view name,
                    std::string_view value) {
    headers_[count_++] = CloudEventsHeader{attribute, name, value};
  };
  add(CloudEventsAttribute::kId, names.id, id_);
  add(CloudEventsAttribute::kType, names.type, event.type);
  add(CloudEventsAttribute::kSource, names.source, options.source);
  add(CloudEventsAttribute::kTime, names.time, time_);
  add(CloudEventsAttribute::kSpecVersion, names.specversion, kCloudEventsSpecVersion);
  if (options.subject_from_key && !event.key.empty()) {
    add(CloudEventsAttribute::kSubject, names.subject, event.key);
  }
  add(CloudEventsAttribute::kDataContentType, names.datacontenttype, event.content_type);
}

}  // namespace herald::publish
