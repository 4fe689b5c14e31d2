#include "core/secrets.h"

#include <string>

#include <gtest/gtest.h>

namespace herald {
namespace {

TEST(MaskSecretsTest, UrlPasswords) {
  EXPECT_EQ(MaskSecrets("postgres://app:s3cret@db:5432/orders"), "postgres://app:***@db:5432/orders");
  EXPECT_EQ(MaskSecrets("kafka://u:p@ss@h1:9092,h2:9092"), "kafka://u:***@h1:9092,h2:9092");
  EXPECT_EQ(MaskSecrets("relaying from postgresql://a:b@h/d?schema=x to amqp://g:h@r:5672/v"),
            "relaying from postgresql://a:***@h/d?schema=x to amqp://g:***@r:5672/v");
  EXPECT_EQ(MaskSecrets("database URL 'postgres://u:pw@h/db': bad"),
            "database URL 'postgres://u:***@h/db': bad");
}

TEST(MaskSecretsTest, UrlsWithoutPasswordsAreUnchanged) {
  for (const char* text : {"postgres://app@db/orders", "postgres://db:5432/orders",
                           "file:/tmp/x.jsonl", "sqlite:/var/lib/app.db", "nats://h:4222",
                           "kafka://h1:9092,h2:9092", "postgres://", "a://b:c"}) {
    EXPECT_EQ(MaskSecrets(text), text);
  }
}

TEST(MaskSecretsTest, SecretKeyValuePairs) {
  EXPECT_EQ(MaskSecrets("host=db user=app password=s3cret dbname=x"),
            "host=db user=app password=*** dbname=x");
  EXPECT_EQ(MaskSecrets("host=db password = 'a secret' port=1"),
            "host=db password = '***' port=1");
  EXPECT_EQ(MaskSecrets("host=db password='a b\\' c' port=1"), "host=db password='***' port=1");
  EXPECT_EQ(MaskSecrets("postgres://h/d?sslmode=require&password=x&schema=s"),
            "postgres://h/d?sslmode=require&password=***&schema=s");
  EXPECT_EQ(MaskSecrets("acks=all,sasl.password=hunter2,linger.ms=5"),
            "acks=all,sasl.password=***,linger.ms=5");
  EXPECT_EQ(MaskSecrets("SASL.PASSWORD=x token=abc sslpassword=y client_secret=z pwd=q"),
            "SASL.PASSWORD=*** token=*** sslpassword=*** client_secret=*** pwd=***");
  EXPECT_EQ(MaskSecrets("password=\"q\""), "password=\"***\"");
}

TEST(MaskSecretsTest, OtherPairsAndWordsAreUnchanged) {
  for (const char* text : {"user=app dbname=x", "passwords are masked", "password", "token ok",
                           "tokenizer=x", "passwordless=1", "", "= password="}) {
    EXPECT_EQ(MaskSecrets(text), text == std::string("= password=") ? "= password=***" : text);
  }
}

TEST(MaskSecretsTest, MaskingTwiceChangesNothingMore) {
  const std::string once = MaskSecrets("postgres://a:b@h/d password=x sasl.password=y");
  EXPECT_EQ(MaskSecrets(once), once);
}

}  // namespace
}  // namespace herald
