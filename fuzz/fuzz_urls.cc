// Database and publisher URLs as an operator types them: parsed or refused
// with one line that never shows a password; secrets masked idempotently.
#include <string>
#include <string_view>

#include "core/secrets.h"
#include "fuzz.h"
#include "herald/publisher.h"
#include "store/store_url.h"
#ifdef HERALD_WITH_POSTGRES
#include "store/postgres/pg_url.h"
#endif
#ifdef HERALD_WITH_KAFKA
#include "publish/kafka/kafka_config.h"
#endif
#ifdef HERALD_WITH_RABBITMQ
#include "publish/rabbitmq/rabbitmq_config.h"
#endif
#ifdef HERALD_WITH_REDIS
#include "publish/redis/redis_config.h"
#endif
#ifdef HERALD_WITH_HTTP
#include "publish/http/http_config.h"
#endif

namespace {

// A refusal says why (the CLI prints it masked, on one line).
void CheckError(const herald::Status& error) {
  HERALD_FUZZ_CHECK(error.code() == herald::Code::kInvalidArgument);
  HERALD_FUZZ_CHECK(herald::fuzz::Says(error.message()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace herald;
  const std::string_view url = fuzz::Text(data, size);
  const std::string masked = MaskSecrets(url);
  HERALD_FUZZ_CHECK(MaskSecrets(masked) == masked);

  Result<StoreUrl> store = ParseStoreUrl(url);
  if (!store) CheckError(store.error());
#ifdef HERALD_WITH_POSTGRES
  Result<pg_internal::PgUrl> pg = pg_internal::ParsePgUrl(url);
  if (pg) {
    HERALD_FUZZ_CHECK(pg->display == MaskSecrets(url));
  } else {
    CheckError(pg.error());
  }
#endif
#ifdef HERALD_WITH_KAFKA
  Result<publish::KafkaConfig> kafka = publish::ParseKafkaConfig(url, PublisherOptions{});
  if (!kafka) CheckError(kafka.error());
#endif
#ifdef HERALD_WITH_RABBITMQ
  Result<publish::RabbitMqConfig> rabbitmq = publish::ParseRabbitMqConfig(url, PublisherOptions{});
  if (rabbitmq) {
    HERALD_FUZZ_CHECK(!rabbitmq->host.empty());
    HERALD_FUZZ_CHECK(rabbitmq->port >= 1 && rabbitmq->port <= 65535);
  } else {
    CheckError(rabbitmq.error());
  }
#endif
#ifdef HERALD_WITH_REDIS
  Result<publish::RedisConfig> redis = publish::ParseRedisConfig(url, PublisherOptions{});
  if (redis) {
    HERALD_FUZZ_CHECK(!redis->host.empty());
    HERALD_FUZZ_CHECK(redis->port >= 1 && redis->port <= 65535);
    HERALD_FUZZ_CHECK(redis->db >= 0);
    HERALD_FUZZ_CHECK(redis->display == masked);
  } else {
    CheckError(redis.error());
  }
#endif
#ifdef HERALD_WITH_HTTP
  Result<publish::HttpConfig> http = publish::ParseHttpConfig(url, PublisherOptions{});
  if (http) {
    HERALD_FUZZ_CHECK(http->display_url == masked);
    // Placeholders expand to something without braces.
    const std::string expanded = publish::ExpandUrl(http->url_template, "a/b c", "{key}");
    HERALD_FUZZ_CHECK(expanded.find_first_of("{}") == std::string::npos);
  } else {
    CheckError(http.error());
  }
#endif
  return 0;
}
