// `herald demo` checks itself; this runs it with a small workload and checks
// its verdict from the outside: the outbox run must deliver every committed
// transaction to Budgets and Analytics exactly once, in per-account order,
// across a bus outage and a SIGKILLed relay.
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "support/process.h"
#include "testing/seed.h"

namespace herald {
namespace {

using test::ProcessResult;
using test::RunProgram;
using test::TempDir;

TEST(DemoTest, OutboxRunLosesNothingAppliesOnceAndKeepsOrder) {
  TempDir dir;
  const std::uint64_t seed = herald::testing::SeedFromTestName() % 1000000;
  std::cout << "seed " << seed << "\n";
  constexpr int kTransactions = 400;
  ProcessResult r = RunProgram(
      {HERALD_BINARY, "demo", "--transactions", std::to_string(kTransactions), "--rate", "200",
       "--outage", "1s", "--accounts", "7", "--seed", std::to_string(seed), "--json"},
      dir.path(), {}, std::chrono::seconds(90));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;

  const nlohmann::json& outbox = j["outbox"];
  EXPECT_EQ(outbox["committed"], kTransactions);
  EXPECT_EQ(outbox["lost"], 0);
  EXPECT_EQ(outbox["double_applied"], 0);
  EXPECT_EQ(outbox["order_violations"], 0);
  EXPECT_EQ(outbox["budgets_match"], true);
  EXPECT_EQ(outbox["accounts"], 7);
  EXPECT_EQ(outbox["relay_kills"], 1);
  for (const char* consumer : {"budgets", "analytics"}) {
    SCOPED_TRACE(consumer);
    EXPECT_EQ(outbox[consumer]["distinct"], kTransactions);
    EXPECT_EQ(outbox[consumer]["applied"], kTransactions);
    EXPECT_EQ(outbox[consumer]["errors"], 0);
    // Every message beyond the first of each event was absorbed by the inbox.
    EXPECT_EQ(outbox[consumer]["received"].get<std::int64_t>(),
              kTransactions + outbox[consumer]["duplicates"].get<std::int64_t>());
  }
  EXPECT_EQ(j["ok"], true);

  // The naive run is the same workload; what it lost is exactly what its
  // direct publishes reported failed, and nothing it received was doubled.
  const nlohmann::json& naive = j["naive"];
  EXPECT_EQ(naive["committed"], kTransactions);
  EXPECT_EQ(naive["lost"], naive["publish_failures"]);
  EXPECT_EQ(naive["double_applied"], 0);
  EXPECT_EQ(naive["budgets"]["distinct"].get<std::int64_t>() + naive["lost"].get<std::int64_t>(),
            kTransactions);
}

TEST(DemoTest, RealInfrastructureIsRefusedAsNotSupportedYet) {
  TempDir dir;
  ProcessResult r =
      RunProgram({HERALD_BINARY, "demo", "--db", "postgres://localhost/x"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not supported yet"), std::string::npos) << r.err;
}

TEST(DemoTest, BadOptionsAreUsageErrors) {
  TempDir dir;
  EXPECT_EQ(RunProgram({HERALD_BINARY, "demo", "--outage", "soon"}, dir.path()).exit_code, 2);
  EXPECT_EQ(RunProgram({HERALD_BINARY, "demo", "--transactions", "0"}, dir.path()).exit_code, 2);
}

}  // namespace
}  // namespace herald
