#include "publish/kafka/kafka_config.h"

#include <charconv>
#include <system_error>

#include <fmt/format.h>

namespace herald::publish {
namespace {

constexpr std::string_view kScheme = "kafka://";
constexpr std::string_view kTopicPlaceholder = "{topic}";

Status BadUrl(std::string_view url, std::string_view why) {
  return InvalidArgument(fmt::format(
      "publisher URL '{}': {} (expected kafka://host:port[,host:port...])", url, why));
}

// Checks one "host:port" entry of the broker list.
Status CheckBroker(std::string_view url, std::string_view broker) {
  std::size_t colon = broker.rfind(':');
  if (broker.empty() || colon == std::string_view::npos) {
    return BadUrl(url, fmt::format("broker '{}' has no port", broker));
  }
  std::string_view host = broker.substr(0, colon);
  std::string_view port = broker.substr(colon + 1);
  if (host.empty()) return BadUrl(url, fmt::format("broker '{}' has no host", broker));
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
      value > 65535) {
    return BadUrl(url, fmt::format("broker '{}' has a bad port", broker));
  }
  return OkStatus();
}

Result<std::string> ParseBrokers(std::string_view url) {
  if (!url.starts_with(kScheme)) return std::unexpected(BadUrl(url, "not a kafka:// URL"));
  std::string_view brokers = url.substr(kScheme.size());
  if (brokers.ends_with('/')) brokers.remove_suffix(1);
  if (brokers.empty()) return std::unexpected(BadUrl(url, "no brokers"));
  if (brokers.find_first_of("/?#@ ") != std::string_view::npos) {
    return std::unexpected(BadUrl(url, "only a broker list may follow kafka://"));
  }
  std::size_t start = 0;
  while (true) {
    std::size_t comma = brokers.find(',', start);
    Status s = CheckBroker(url, brokers.substr(start, comma - start));
    if (!s.ok()) return std::unexpected(s);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return std::string(brokers);
}

// Applies one herald.* property to `config`.
Status ApplyHeraldProperty(const std::string& name, const std::string& value,
                           KafkaConfig& config) {
  if (name == kTopicTemplateProperty) {
    if (value.find(kTopicPlaceholder) == std::string::npos) {
      return InvalidArgument(
          fmt::format("kafka property '{}': '{}' does not contain {{topic}}", name, value));
    }
    config.topic_template = value;
  } else if (name == kTopicPrefixProperty) {
    config.topic_template = value + std::string(kTopicPlaceholder);
  } else if (name == kSourceProperty) {
    if (value.empty()) {
      return InvalidArgument(fmt::format("kafka property '{}' must not be empty", name));
    }
    config.source = value;
  } else {
    return InvalidArgument(fmt::format(
        "unknown kafka property '{}' (herald.* properties: {}, {}, {})", name,
        kTopicTemplateProperty, kTopicPrefixProperty, kSourceProperty));
  }
  return OkStatus();
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& KafkaDefaultProperties() {
  static const auto* defaults = new std::vector<std::pair<std::string, std::string>>{
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"max.in.flight.requests.per.connection", "5"},
      {"enable.gapless.guarantee", "true"},
      {"message.timeout.ms", "30000"},
      {"linger.ms", "5"},
  };
  return *defaults;
}

Result<KafkaConfig> ParseKafkaConfig(std::string_view url, const PublisherOptions& options) {
  Result<std::string> brokers = ParseBrokers(url);
  if (!brokers) return std::unexpected(brokers.error());
  const auto& props = options.properties;
  if (props.contains(std::string(kTopicTemplateProperty)) &&
      props.contains(std::string(kTopicPrefixProperty))) {
    return std::unexpected(InvalidArgument(fmt::format(
        "kafka properties '{}' and '{}' exclude each other", kTopicTemplateProperty,
        kTopicPrefixProperty)));
  }

  KafkaConfig config;
  config.rdkafka.emplace_back("bootstrap.servers", *brokers);
  for (const auto& p : KafkaDefaultProperties()) config.rdkafka.push_back(p);
  for (const auto& [name, value] : props) {
    if (name.starts_with("herald.")) {
      if (Status s = ApplyHeraldProperty(name, value, config); !s.ok()) {
        return std::unexpected(s);
      }
    } else if (name == "bootstrap.servers" || name == "metadata.broker.list") {
      return std::unexpected(InvalidArgument(fmt::format(
          "kafka property '{}': give the brokers in the URL, kafka://host:port,...", name)));
    } else {
      config.rdkafka.emplace_back(name, value);
    }
  }
  return config;
}

std::string MapTopic(std::string_view topic_template, std::string_view topic) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    std::size_t at = topic_template.find(kTopicPlaceholder, start);
    out.append(topic_template.substr(start, at - start));
    if (at == std::string_view::npos) break;
    out.append(topic);
    start = at + kTopicPlaceholder.size();
  }
  return out;
}

}  // namespace herald::publish
