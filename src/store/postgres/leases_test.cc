// Several relays on one PostgreSQL database (I7): partitions divided,
// rebalanced when relays come and go, taken over from a dead or frozen
// relay, and settlements fenced by the epoch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "herald/postgres.h"
#include "herald/store.h"
#include "store/postgres/test_support.h"

namespace herald {
namespace {

using pg_testing::PgTest;
using std::chrono::milliseconds;

constexpr int kPartitions = 8;
// Short leases keep the tests quick: renewal every ~333 ms.
constexpr const char* kLease = "lease=1s";

class PgLeaseTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Migrate(kPartitions);
  }

  std::unique_ptr<PostgresStore> Relay(const std::string& id) {
    std::unique_ptr<PostgresStore> store = OpenStore(std::string(kLease) + "&relay_id=" + id);
    EXPECT_NE(store, nullptr);
    if (store == nullptr) return nullptr;
    Status s = store->AcquireRelayRole(false, {});
    EXPECT_TRUE(s.ok()) << s.ToString();
    return store;
  }

  // Runs lease rounds on `relays` until `done` holds (or 15 s pass).
  template <typename Done>
  bool TickUntil(const std::vector<PostgresStore*>& relays, Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      for (PostgresStore* r : relays) static_cast<void>(r->TickLeasesForTesting());
      std::this_thread::sleep_for(milliseconds(50));
    }
    return done();
  }

  // True if the claimable sets of `relays` are disjoint, cover every
  // partition, and have the sizes in `sizes` (in any order).
  static bool Divided(const std::vector<PostgresStore*>& relays, std::vector<std::size_t> sizes) {
    std::set<int> all;
    std::vector<std::size_t> got;
    std::size_t total = 0;
    for (PostgresStore* r : relays) {
      std::vector<int> mine = r->ClaimablePartitions();
      got.push_back(mine.size());
      total += mine.size();
      all.insert(mine.begin(), mine.end());
    }
    std::sort(got.begin(), got.end());
    std::sort(sizes.begin(), sizes.end());
    return total == all.size() && all.size() == static_cast<std::size_t>(kPartitions) &&
           got == sizes;
  }

  // The database's view: owner of each partition with an unexpired lease.
  std::string Owners() const {
    return Text("SELECT string_agg(partition || '=' || COALESCE(owner, '-'), ',' ORDER BY "
                "partition) FROM " + schema_ + ".partitions WHERE lease_until > now()");
  }

  void EnqueueSpread(int n) {
    std::vector<Event> events;
    for (int i = 0; i < n; ++i) {
      events.push_back(Event::Make("t", "key-" + std::to_string(i), "T", std::to_string(i)));
    }
    pg_testing::RawConn app = Connect();
    Exec(app.get(), "BEGIN");
    ASSERT_TRUE(postgres::EnqueueBatch(app.get(), events, WriteOptions()).ok());
    Exec(app.get(), "COMMIT");
  }

  static std::vector<PendingEvent> ClaimAll(PostgresStore& store) {
    Result<Claim> claim = store.ClaimDue(std::chrono::system_clock::now(), 1000, {});
    EXPECT_TRUE(claim.has_value()) << claim.error().ToString();
    return claim ? claim->events : std::vector<PendingEvent>{};
  }
};

TEST_F(PgLeaseTest, OneRelayOwnsEveryPartition) {
  std::unique_ptr<PostgresStore> a = Relay("a");
  EXPECT_EQ(a->ClaimablePartitions().size(), static_cast<std::size_t>(kPartitions));
  EnqueueSpread(40);
  EXPECT_EQ(ClaimAll(*a).size(), 40u);
}

TEST_F(PgLeaseTest, RelaysSplitThePartitionsAndRebalanceWhenOneLeaves) {
  std::unique_ptr<PostgresStore> a = Relay("a");
  std::unique_ptr<PostgresStore> b = Relay("b");
  ASSERT_TRUE(TickUntil({a.get(), b.get()}, [&] { return Divided({a.get(), b.get()}, {4, 4}); }))
      << Owners();
  std::unique_ptr<PostgresStore> c = Relay("c");
  ASSERT_TRUE(TickUntil({a.get(), b.get(), c.get()},
                        [&] { return Divided({a.get(), b.get(), c.get()}, {3, 3, 2}); }))
      << Owners();

  // Each event is claimed by exactly one relay.
  EnqueueSpread(60);
  std::set<std::int64_t> seen;
  std::size_t claimed = 0;
  for (PostgresStore* r : {a.get(), b.get(), c.get()}) {
    for (const PendingEvent& p : ClaimAll(*r)) {
      seen.insert(p.seq);
      ++claimed;
    }
  }
  EXPECT_EQ(claimed, 60u);
  EXPECT_EQ(seen.size(), 60u);

  // A relay that stops gives its partitions back at once.
  c.reset();
  ASSERT_TRUE(TickUntil({a.get(), b.get()}, [&] { return Divided({a.get(), b.get()}, {4, 4}); }))
      << Owners();
  Result<OutboxStats> stats = a->Stats();
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  ASSERT_EQ(stats->relays.size(), 2u);
  EXPECT_EQ(stats->relays[0].relay_id, "a");
  EXPECT_EQ(stats->relays[0].partitions, a->ClaimablePartitions());
  EXPECT_EQ(stats->relays[1].partitions, b->ClaimablePartitions());
}

TEST_F(PgLeaseTest, ADeadRelaysPartitionsAreTakenOverAfterItsLease) {
  std::unique_ptr<PostgresStore> a = Relay("a");
  std::unique_ptr<PostgresStore> b = Relay("b");
  ASSERT_TRUE(TickUntil({a.get(), b.get()}, [&] { return Divided({a.get(), b.get()}, {4, 4}); }))
      << Owners();
  b->PauseLeasesForTesting(true, /*crash=*/true);  // b dies without a word
  // The background threads alone take it over: no manual rounds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (a->ClaimablePartitions().size() < kPartitions &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(a->ClaimablePartitions().size(), static_cast<std::size_t>(kPartitions)) << Owners();
  EXPECT_TRUE(b->ClaimablePartitions().empty());
}

TEST_F(PgLeaseTest, AFrozenRelayNeitherClaimsNorSettlesWhatWasTakenOver) {
  std::unique_ptr<PostgresStore> a = Relay("a");
  EnqueueSpread(20);
  std::vector<PendingEvent> claimed = ClaimAll(*a);
  ASSERT_EQ(claimed.size(), 20u);

  // a freezes mid-publish; b starts and, after a's lease, owns everything.
  a->PauseLeasesForTesting(true);
  std::unique_ptr<PostgresStore> b = Relay("b");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (b->ClaimablePartitions().size() < kPartitions &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(b->ClaimablePartitions().size(), static_cast<std::size_t>(kPartitions)) << Owners();

  // a wakes up: its local leases are over, and its settlement is fenced out.
  // (Settle first: it is fenced by the database, whatever a believes.)
  EXPECT_TRUE(a->ClaimablePartitions().empty());
  Settlement late;
  for (const PendingEvent& p : claimed) late.published.push_back(p.seq);
  ASSERT_TRUE(a->Settle(late, std::chrono::system_clock::now()).ok());
  EXPECT_EQ(OutboxCount(), 20);
  EXPECT_TRUE(ClaimAll(*a).empty());

  // b publishes them and its settlement goes through.
  std::vector<PendingEvent> mine = ClaimAll(*b);
  ASSERT_EQ(mine.size(), 20u);
  Settlement done;
  for (const PendingEvent& p : mine) done.published.push_back(p.seq);
  ASSERT_TRUE(b->Settle(done, std::chrono::system_clock::now()).ok());
  EXPECT_EQ(OutboxCount(), 0);

  // Resumed, a renews nothing it lost and asks for its share again.
  a->PauseLeasesForTesting(false);
  ASSERT_TRUE(TickUntil({a.get(), b.get()}, [&] { return Divided({a.get(), b.get()}, {4, 4}); }))
      << Owners();
}

TEST_F(PgLeaseTest, PartitionsInFlightAreGivenBackOnlyAfterSettling) {
  std::unique_ptr<PostgresStore> a = Relay("a");
  EnqueueSpread(40);
  std::vector<PendingEvent> claimed = ClaimAll(*a);
  ASSERT_EQ(claimed.size(), 40u);
  std::unique_ptr<PostgresStore> b = Relay("b");
  // While a's claim is unsettled it keeps every partition (draining some).
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->TickLeasesForTesting().ok());
    ASSERT_TRUE(b->TickLeasesForTesting().ok());
  }
  EXPECT_TRUE(b->ClaimablePartitions().empty()) << Owners();
  EXPECT_EQ(a->ClaimablePartitions().size(), 4u);  // the other four are draining
  Settlement done;
  for (const PendingEvent& p : claimed) done.published.push_back(p.seq);
  ASSERT_TRUE(a->Settle(done, std::chrono::system_clock::now()).ok());
  EXPECT_EQ(OutboxCount(), 0);  // nothing was fenced out: no duplicates
  ASSERT_TRUE(TickUntil({a.get(), b.get()}, [&] { return Divided({a.get(), b.get()}, {4, 4}); }))
      << Owners();
}

// The relay reads its next batch while one is on the bus: two claims are
// unsettled at once. Each is fenced by the ownership it was claimed under,
// and both keep their partitions from being given back.
TEST_F(PgLeaseTest, TwoUnsettledClaimsKeepTheirPartitionsAndSettleUnderTheirOwnEpochs) {
  std::unique_ptr<PostgresStore> a = Relay("a");
  EnqueueSpread(40);
  Result<Claim> first = a->ClaimDue(std::chrono::system_clock::now(), 20, {});
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  ASSERT_EQ(first->events.size(), 20u);
  std::vector<std::int64_t> in_flight;
  for (const PendingEvent& p : first->events) in_flight.push_back(p.seq);

  // b joins: a gives back half of its partitions, but not before the first
  // claim is settled.
  std::unique_ptr<PostgresStore> b = Relay("b");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->TickLeasesForTesting().ok());
    ASSERT_TRUE(b->TickLeasesForTesting().ok());
  }
  EXPECT_TRUE(b->ClaimablePartitions().empty()) << Owners();
  ASSERT_EQ(a->ClaimablePartitions().size(), 4u);

  // The read-ahead claim skips what is in flight and the draining partitions.
  Result<Claim> second = a->ClaimDue(std::chrono::system_clock::now(), 100, in_flight);
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  std::set<std::int64_t> first_seqs(in_flight.begin(), in_flight.end());
  for (const PendingEvent& p : second->events) EXPECT_FALSE(first_seqs.contains(p.seq));
  ASSERT_LT(second->events.size(), 20u);

  // The first claim settles in full, draining partitions included.
  Settlement done;
  for (std::int64_t seq : in_flight) done.published.push_back(seq);
  ASSERT_TRUE(a->Settle(done, std::chrono::system_clock::now()).ok());
  EXPECT_EQ(OutboxCount(), 20) << "the first claim was fenced by the second claim's ownership";

  Settlement rest;
  for (const PendingEvent& p : second->events) rest.published.push_back(p.seq);
  ASSERT_TRUE(a->Settle(rest, std::chrono::system_clock::now()).ok());
  EXPECT_EQ(OutboxCount(), 20 - static_cast<std::int64_t>(second->events.size()));
  ASSERT_TRUE(TickUntil({a.get(), b.get()}, [&] { return Divided({a.get(), b.get()}, {4, 4}); }))
      << Owners();
}

}  // namespace
}  // namespace herald
