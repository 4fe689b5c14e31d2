#include "cli/config.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace herald::cli {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("herald-config-{}-{}", getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string WriteToml(const std::string& text, const std::string& name = "herald.toml") {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  EnvLookup Env() const {
    return [this](std::string_view name) -> std::optional<std::string> {
      auto it = env_.find(std::string(name));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }

  Result<Config> Load() const { return LoadConfig(line_, Env()); }

  // The error message of Load(), which must fail.
  std::string LoadError() const {
    Result<Config> c = Load();
    EXPECT_FALSE(c.has_value());
    if (c.has_value()) return "";
    EXPECT_EQ(c.error().code(), Code::kInvalidArgument);
    EXPECT_EQ(c.error().message().find('\n'), std::string::npos);
    return c.error().message();
  }

  fs::path dir_;
  std::map<std::string, std::string> env_;
  CommandLine line_;
};

TEST_F(ConfigTest, DefaultsAreTheRelayDefaults) {
  Result<Config> c = Load();
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  RelayOptions defaults;
  EXPECT_EQ(c->db, "");
  EXPECT_EQ(c->publisher, "");
  EXPECT_TRUE(c->publisher_options.properties.empty());
  EXPECT_EQ(c->relay.batch_size, defaults.batch_size);
  EXPECT_EQ(c->relay.max_attempts, defaults.max_attempts);
  EXPECT_EQ(c->relay.backoff_initial, defaults.backoff_initial);
  EXPECT_EQ(c->relay.backoff_max, defaults.backoff_max);
  EXPECT_EQ(c->relay.poll_interval, defaults.poll_interval);
  EXPECT_EQ(c->relay.standby, false);
  EXPECT_EQ(c->relay.exit_when_drained, false);
  EXPECT_EQ(c->log_level, LogLevel::kInfo);
}

TEST_F(ConfigTest, FlagBeatsEnvironmentBeatsFile) {
  line_.config_file = WriteToml(R"(
db = "sqlite:from-file.db"
batch_size = 10
poll_interval = "3s"
standby = true
)");
  env_["HERALD_DB"] = "sqlite:from-env.db";
  env_["HERALD_BATCH_SIZE"] = "20";
  line_.values["db"] = "sqlite:from-flag.db";

  Result<Config> c = Load();
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->db, "sqlite:from-flag.db");
  EXPECT_EQ(c->relay.batch_size, 20u);
  EXPECT_EQ(c->relay.poll_interval, milliseconds(3000));
  EXPECT_TRUE(c->relay.standby);

  line_.values["batch_size"] = "30";
  env_["HERALD_STANDBY"] = "false";
  c = Load();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->relay.batch_size, 30u);
  EXPECT_FALSE(c->relay.standby);

  line_.values.clear();
  env_.erase("HERALD_DB");
  c = Load();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->db, "sqlite:from-file.db");
  EXPECT_EQ(c->relay.batch_size, 20u);
}

TEST_F(ConfigTest, ConfigFileFromEnvironmentUnlessGivenOnCommandLine) {
  env_["HERALD_CONFIG"] = WriteToml("max_attempts = 3\n", "env.toml");
  Result<Config> c = Load();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->relay.max_attempts, 3);

  line_.config_file = WriteToml("max_attempts = 4\n", "flag.toml");
  c = Load();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->relay.max_attempts, 4);
}

TEST_F(ConfigTest, EveryKeyIsReadFromTheFile) {
  line_.config_file = WriteToml(R"(
db = "sqlite:x.db"
publisher = "file:out.jsonl"
batch_size = 7
max_attempts = 0
backoff_initial = 50
backoff_max = "2m"
poll_interval = "250ms"
log_level = "debug"
standby = true
exit_when_drained = true
[publisher_options]
acks = "all"
)");
  Result<Config> c = Load();
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->db, "sqlite:x.db");
  EXPECT_EQ(c->publisher, "file:out.jsonl");
  EXPECT_EQ(c->relay.batch_size, 7u);
  EXPECT_EQ(c->relay.max_attempts, 0);
  EXPECT_EQ(c->relay.backoff_initial, milliseconds(50));
  EXPECT_EQ(c->relay.backoff_max, milliseconds(120000));
  EXPECT_EQ(c->relay.poll_interval, milliseconds(250));
  EXPECT_EQ(c->log_level, LogLevel::kDebug);
  EXPECT_TRUE(c->relay.standby);
  EXPECT_TRUE(c->relay.exit_when_drained);
  EXPECT_EQ(c->publisher_options.properties, (std::map<std::string, std::string>{{"acks", "all"}}));
}

TEST_F(ConfigTest, PublisherOptionsMergeKeyByKey) {
  line_.config_file = WriteToml(R"(
[publisher_options]
acks = "1"
linger.ms = 5
"queue.buffering.max.kbytes" = 1024
enable.idempotence = true
compression = "lz4"
)");
  env_["HERALD_PUBLISHER_OPTIONS"] = "acks=all,client.id=relay-a";
  line_.publisher_options = {"client.id=relay-b", "sasl.password=a=b,c"};
  Result<Config> c = Load();
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->publisher_options.properties,
            (std::map<std::string, std::string>{{"acks", "all"},
                                                {"client.id", "relay-b"},
                                                {"compression", "lz4"},
                                                {"enable.idempotence", "true"},
                                                {"linger.ms", "5"},
                                                {"queue.buffering.max.kbytes", "1024"},
                                                {"sasl.password", "a=b,c"}}));
}

TEST_F(ConfigTest, MalformedPublisherOptionsNameTheirSource) {
  line_.publisher_options = {"novalue"};
  EXPECT_THAT(LoadError(), AllOf(StartsWith("--publisher-option:"), HasSubstr("'novalue'")));
  line_.publisher_options = {"=x"};
  EXPECT_THAT(LoadError(), StartsWith("--publisher-option:"));
  line_.publisher_options.clear();
  env_["HERALD_PUBLISHER_OPTIONS"] = "a=1,,b=2";
  EXPECT_THAT(LoadError(), StartsWith("HERALD_PUBLISHER_OPTIONS:"));
}



TEST_F(ConfigTest, BadDurationNamesFlagVariableOrFileLine) {
  line_.values["poll_interval"] = "5x";
  EXPECT_THAT(LoadError(), AllOf(StartsWith("--poll-interval: '5x' is not a duration")));
  line_.values.clear();
  env_["HERALD_BACKOFF_MAX"] = "soon";
  EXPECT_THAT(LoadError(), StartsWith("HERALD_BACKOFF_MAX: 'soon' is not a duration"));
  env_.clear();
  line_.config_file = WriteToml("\nbackoff_initial = \"1.5ms\"\n");
  EXPECT_THAT(LoadError(), AllOf(StartsWith(*line_.config_file + ":2: key 'backoff_initial'"),
                                 HasSubstr("'1.5ms' is not a duration")));
}

// Flags, variables and TOML read durations with the one parser
// (core/duration.h): fractions and compounds too.
TEST_F(ConfigTest, DurationsTakeFractionsAndCompoundsEverywhere) {
  line_.values["poll_interval"] = "1.5s";
  env_["HERALD_BACKOFF_MAX"] = "1m30s";
  line_.config_file = WriteToml("backoff_initial = \"0.25s\"\n");
  Result<Config> c = Load();
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->relay.poll_interval, milliseconds(1500));
  EXPECT_EQ(c->relay.backoff_max, milliseconds(90000));
  EXPECT_EQ(c->relay.backoff_initial, milliseconds(250));
}

TEST_F(ConfigTest, BadNumbersAreRejected) {
  for (std::string_view bad : {"abc", "0", "-5", "1.5", "100001", "", "99999999999999999999"}) {
    line_.values["batch_size"] = std::string(bad);
    EXPECT_THAT(LoadError(),
                StartsWith(fmt::format("--batch-size: '{}' is not a whole number", bad)));
  }
  line_.values.clear();
  env_["HERALD_MAX_ATTEMPTS"] = "-1";
  EXPECT_THAT(LoadError(), StartsWith("HERALD_MAX_ATTEMPTS: '-1' is not a whole number from 0"));
  env_.clear();
  line_.config_file = WriteToml("batch_size = -3\n");
  EXPECT_THAT(LoadError(), HasSubstr(":1: key 'batch_size': '-3' is not a whole number"));
}

TEST_F(ConfigTest, BadBooleansAndLogLevelsAreRejected) {
  env_["HERALD_EXIT_WHEN_DRAINED"] = "maybe";
  EXPECT_THAT(LoadError(), StartsWith("HERALD_EXIT_WHEN_DRAINED: 'maybe' is not a boolean"));
  env_.clear();
  line_.values["log_level"] = "verbose";
  EXPECT_THAT(LoadError(), StartsWith("--log-level: 'verbose' is not a log level"));
}

TEST_F(ConfigTest, BooleansAcceptCommonSpellings) {
  for (auto [text, value] : {std::pair{"true", true},
                             {"1", true},
                             {"yes", true},
                             {"on", true},
                             {"false", false},
                             {"0", false},
                             {"no", false},
                             {"off", false}}) {
    env_["HERALD_STANDBY"] = text;
    Result<Config> c = Load();
    ASSERT_TRUE(c.has_value()) << text;
    EXPECT_EQ(c->relay.standby, value) << text;
  }
}

TEST_F(ConfigTest, UnknownFileKeyNamesKeyFileAndLine) {
  line_.config_file = WriteToml("db = \"sqlite:x.db\"\nbach_size = 5\n");
  EXPECT_EQ(LoadError(), *line_.config_file + ":2: unknown key 'bach_size'");
}

TEST_F(ConfigTest, WrongTomlTypesAreRejected) {
  struct Case {
    const char* toml;
    const char* message;
  };
  for (const Case& c : {
           Case{"batch_size = \"10\"", "key 'batch_size' must be an integer, not a string"},
           Case{"standby = \"yes\"", "key 'standby' must be a boolean, not a string"},
           Case{"publisher = 5", "key 'publisher' must be a string, not an integer"},
           Case{"log_level = [\"info\"]", "key 'log_level' must be a string, not an array"},
           Case{"publisher_options = \"acks=all\"", "key 'publisher_options' must be a table"},
           Case{"poll_interval = 1.5", "key 'poll_interval' must be a duration"},
           Case{"[publisher_options]\nacks = [1]",
                "publisher option 'acks' must be a string, number or boolean"},
       }) {
    line_.config_file = WriteToml(c.toml);
    EXPECT_THAT(LoadError(), AllOf(StartsWith(*line_.config_file + ":"), HasSubstr(c.message)))
        << c.toml;
  }
}

TEST_F(ConfigTest, UnreadableOrMalformedFileIsAnError) {
  line_.config_file = (dir_ / "missing.toml").string();
  EXPECT_EQ(LoadError(), fmt::format("cannot read config file '{}': No such file or directory",
                                     *line_.config_file));
  line_.config_file = dir_.string();
  EXPECT_THAT(LoadError(), HasSubstr("Is a directory"));
  line_.config_file = WriteToml("db = \"sqlite:x.db\"\nbatch_size = = 3\n");
  EXPECT_THAT(LoadError(), StartsWith(*line_.config_file + ":2:"));
}

// A dotted key of a given number of parts: "a.a.a".
std::string DottedKey(int parts) {
  std::string k = "a";
  for (int i = 1; i < parts; ++i) k += ".a";
  return k;
}

// A key of thousands of dotted parts made toml++ overflow the stack.
TEST_F(ConfigTest, KeysOfTooManyDottedPartsAreRefusedAtTheirLine) {
  for (const std::string& toml : {
           "db = \"sqlite:x.db\"\n[" + DottedKey(50000) + "]\n",
           "db = \"sqlite:x.db\"\n" + DottedKey(50000) + " = 1\n",
           "db = \"sqlite:x.db\"\npublisher_options = {" + DottedKey(65) + " = 1}\n",
       }) {
    line_.config_file = WriteToml(toml);
    EXPECT_EQ(LoadError(), *line_.config_file + ":2: a key has more than 64 dotted parts");
  }
}

TEST_F(ConfigTest, DotsInStringsCommentsAndValuesAreNotKeyParts) {
  const std::string dots(200, '.');
  line_.config_file = WriteToml("# " + dots + "\ndb = \"sqlite:" + dots + "\"\n" +
                                "log_level = '''\ninfo'''\n" + "[publisher_options]\n\"" + dots +
                                "\" = 1.5 # " + dots + "\n" + DottedKey(64) + " = 2.5\n");
  Result<Config> config = Load();
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->publisher_options.properties.at(dots), "1.5");
  EXPECT_EQ(config->publisher_options.properties.at(DottedKey(64)), "2.5");
}

TEST_F(ConfigTest, BackoffMaxBelowInitialIsInconsistent) {
  line_.values["backoff_initial"] = "2s";
  line_.values["backoff_max"] = "1s";
  EXPECT_EQ(LoadError(), "backoff_max (1000ms) is below backoff_initial (2000ms)");
  line_.values["backoff_max"] = "2s";
  EXPECT_TRUE(Load().has_value());
}

// 2562048h made an idle relay spin: a deadline that far ahead overflowed.
TEST_F(ConfigTest, DurationsOutsideTheirRangeAreRejected) {
  struct Case {
    const char* key;
    const char* value;
    const char* range;
  };
  for (const Case& c : {
           Case{"poll_interval", "0", "from 1ms to 1h"},
           Case{"poll_interval", "61m", "from 1ms to 1h"},
           Case{"poll_interval", "2562048h", "from 1ms to 1h"},
           Case{"poll_interval", "9223372036854775807ms", "from 1ms to 1h"},
           Case{"backoff_initial", "0ms", "from 1ms to 24h"},
           Case{"backoff_max", "25h", "from 1ms to 24h"},
       }) {
    line_.values.clear();
    line_.values[c.key] = c.value;
    EXPECT_THAT(LoadError(), AllOf(StartsWith(FlagName(c.key) + ": '" + c.value + "'"),
                                   HasSubstr(c.range)));
  }
  line_.values.clear();
  line_.values["poll_interval"] = "1h";
  line_.values["backoff_max"] = "24h";
  ASSERT_TRUE(Load().has_value());
  EXPECT_EQ(Load()->relay.poll_interval, std::chrono::hours(1));
}

TEST_F(ConfigTest, FlagValuesAreReadAsBooleans) {
  line_.values["exit_when_drained"] = "no";
  line_.values["standby"] = "yes";
  Result<Config> config = Load();
  ASSERT_TRUE(config.has_value());
  EXPECT_FALSE(config->relay.exit_when_drained);
  EXPECT_TRUE(config->relay.standby);
  line_.values["standby"] = "maybe";
  EXPECT_THAT(LoadError(), StartsWith("--standby: 'maybe' is not a boolean"));
}

TEST_F(ConfigTest, RequireNamesAllThreeSources) {
  Result<Config> c = Load();
  ASSERT_TRUE(c.has_value());
  Status s = Require(*c, "db");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "missing --db (or set HERALD_DB, or db in the config file)");
  EXPECT_EQ(Require(*c, "publisher").message(),
            "missing --publisher (or set HERALD_PUBLISHER, or publisher in the config file)");
  c->db = "sqlite:x.db";
  EXPECT_TRUE(Require(*c, "db").ok());
}

TEST(ProcessEnvironmentTest, EmptyValueCountsAsUnset) {
  std::string name = fmt::format("HERALD_CONFIG_TEST_{}", getpid());
  EnvLookup env = ProcessEnvironment();
  EXPECT_EQ(env(name), std::nullopt);
  setenv(name.c_str(), "", 1);
  EXPECT_EQ(env(name), std::nullopt);
  setenv(name.c_str(), "v", 1);
  EXPECT_EQ(env(name), "v");
  unsetenv(name.c_str());
}

}  // namespace
}  // namespace herald::cli
