#include "postgres_support.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <span>
#include <string_view>
#include <utility>

#include "herald/event.h"
#include "herald/postgres.h"
#include "testing/postgres_server.h"

namespace herald::test {

using namespace std::chrono_literals;

PgConn PgConnect(const std::string& url) {
  PgConn conn(PQconnectdb(url.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect to " << url << ": " << PQerrorMessage(conn.get());
    return nullptr;
  }
  return conn;
}

std::string PgExec(PGconn* conn, const std::string& sql) {
  PGresult* res = PQexec(conn, sql.c_str());
  ExecStatusType status = PQresultStatus(res);
  std::string error;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    error = PQerrorMessage(conn);
    if (error.empty()) error = PQresStatus(status);
  }
  PQclear(res);
  return error;
}

std::string PgQueryValue(PGconn* conn, const std::string& sql) {
  PGresult* res = PQexec(conn, sql.c_str());
  std::string value;
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 1) {
    ADD_FAILURE() << sql << ": " << PQerrorMessage(conn);
  } else {
    value = PQgetvalue(res, 0, 0);
  }
  PQclear(res);
  return value;
}

std::size_t CountOf(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

void Manifest::Add(const std::string& id, const std::string& key) {
  std::vector<std::string>& of_key = by_key[key];
  entry_of[id] = Entry{key, static_cast<long>(of_key.size())};
  of_key.push_back(id);
  ids.push_back(id);
}

std::string KeyedPayload(const std::string& key, long n) {
  return nlohmann::json{{"key", key}, {"n", n}}.dump();
}

// ---- SinkWatcher ------------------------------------------------------------

SinkWatcher::SinkWatcher() : thread_([this](std::stop_token stop) { Loop(stop); }) {}

SinkWatcher::~SinkWatcher() {
  thread_ = std::jthread();  // stops and joins
  for (File& f : files_) {
    if (f.fd >= 0) ::close(f.fd);
  }
}

std::size_t SinkWatcher::Watch(const std::filesystem::path& path) {
  std::lock_guard lock(mu_);
  File file;
  file.path = path;
  files_.push_back(std::move(file));
  return files_.size() - 1;
}

std::size_t SinkWatcher::lines() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

std::size_t SinkWatcher::lines(std::size_t file) const {
  std::lock_guard lock(mu_);
  return files_.at(file).lines;
}

std::uint64_t SinkWatcher::Mark() const {
  std::lock_guard lock(mu_);
  return reads_;
}

void SinkWatcher::Loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      ReadAllLocked();
    }
    std::this_thread::sleep_for(1ms);
  }
}

void SinkWatcher::ReadAllLocked() {
  for (std::size_t i = 0; i < files_.size(); ++i) ReadLocked(i);
}

void SinkWatcher::ReadLocked(std::size_t index) {
  File& f = files_[index];
  std::uint64_t read = ++reads_;
  if (f.fd < 0) f.fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd >= 0) {
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::pread(f.fd, buf, sizeof buf, static_cast<off_t>(f.offset));
      if (n <= 0) break;
      f.offset += static_cast<std::uint64_t>(n);
      f.partial.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t start = 0;
    for (std::size_t nl; (nl = f.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      seen_.push_back(SinkLine{.file = index, .seen = read, .absent = f.last_read, .id = {}});
      texts_.push_back(f.partial.substr(start, nl - start));
      ++f.lines;
    }
    f.partial.erase(0, start);
  }
  f.last_read = read;
}

std::vector<SinkLine> SinkWatcher::Finish() {
  thread_ = std::jthread();
  std::lock_guard lock(mu_);
  if (!finished_) {
    ReadAllLocked();
    finished_ = true;
    for (std::size_t i = 0; i < seen_.size(); ++i) {
      nlohmann::json j = nlohmann::json::parse(texts_[i], nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || !j.contains("event_id") || !j["event_id"].is_string()) {
        ADD_FAILURE() << "not an event line in sink " << seen_[i].file << ": " << texts_[i];
        continue;
      }
      seen_[i].id = j["event_id"].get<std::string>();
    }
  }
  return seen_;
}

// ---- checks -------------------------------------------------------------------

namespace {

struct Copies {
  std::uint64_t first_seen = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t first_absent = std::numeric_limits<std::uint64_t>::max();
};

}  // namespace

void ExpectDeliveredOnceInKeyOrder(const Manifest& manifest, const std::vector<SinkLine>& lines,
                                   std::size_t max_duplicates) {
  std::set<std::string> committed(manifest.ids.begin(), manifest.ids.end());
  std::set<std::string> delivered;
  std::map<std::string, Copies> copies;
  // Per file and key: the position of the last event first delivered there.
  std::map<std::pair<std::size_t, std::string>, long> last_in_file;
  std::set<std::pair<std::size_t, std::string>> seen_in_file;
  std::size_t foreign = 0, file_order_breaks = 0;
  std::set<std::size_t> sinks;
  for (const SinkLine& line : lines) {
    sinks.insert(line.file);
    auto entry = manifest.entry_of.find(line.id);
    if (entry == manifest.entry_of.end()) {
      if (++foreign <= 5) ADD_FAILURE() << "delivered but never committed: " << line.id;
      continue;
    }
    delivered.insert(line.id);
    Copies& c = copies[line.id];
    c.first_seen = std::min(c.first_seen, line.seen);
    c.first_absent = std::min(c.first_absent, line.absent);
    if (!seen_in_file.insert({line.file, line.id}).second) continue;
    auto [it, fresh] = last_in_file.try_emplace({line.file, entry->second.key}, -1);
    if (entry->second.n <= it->second && ++file_order_breaks <= 5) {
      ADD_FAILURE() << "sink " << line.file << ": key " << entry->second.key << " event #"
                    << entry->second.n << " first arrived after #" << it->second;
    }
    it->second = std::max(it->second, entry->second.n);
  }
  EXPECT_EQ(foreign, 0u) << "events of rolled-back transactions or foreign events arrived";
  EXPECT_EQ(file_order_breaks, 0u) << "per-key order broken within one sink";

  std::size_t lost = 0;
  for (const std::string& id : committed) {
    if (!delivered.contains(id) && ++lost <= 5) ADD_FAILURE() << "committed, never delivered: " << id;
  }
  EXPECT_EQ(lost, 0u) << "of " << committed.size() << " committed events, " << lost << " were lost";

  // Across sinks: event n of a key must not certainly precede event n-1.
  std::size_t cross_breaks = 0;
  for (const auto& [key, ids] : manifest.by_key) {
    for (std::size_t n = 1; n < ids.size(); ++n) {
      auto prev = copies.find(ids[n - 1]), cur = copies.find(ids[n]);
      if (prev == copies.end() || cur == copies.end()) continue;  // reported as lost
      if (cur->second.first_seen <= prev->second.first_absent && ++cross_breaks <= 5) {
        ADD_FAILURE() << "key " << key << ": event #" << n << " was first delivered before #"
                      << n - 1;
      }
    }
  }
  EXPECT_EQ(cross_breaks, 0u) << "per-key order broken across sinks";

  std::size_t valid = lines.size() - foreign;
  std::printf("deliveries: %zu of %zu distinct events, %zu duplicates, in %zu sinks\n",
              valid, delivered.size(), valid - delivered.size(), sinks.size());
  EXPECT_LE(valid - delivered.size(), max_duplicates)
      << valid << " deliveries of " << delivered.size() << " distinct events";
}

// ---- PostgresTest -------------------------------------------------------------

void PostgresTest::SetUp() {
  herald::testing::RequirePostgres(server_url_);
  if (server_url_.empty()) return;
  schema_ = herald::testing::SchemaForCurrentTest();
  app_schema_ = schema_ + "_app";
  PgConn conn = Connect();
  ASSERT_NE(conn, nullptr);
  ASSERT_EQ(PgExec(conn.get(), "SET client_min_messages = warning; DROP SCHEMA IF EXISTS " +
                                   schema_ + " CASCADE; DROP SCHEMA IF EXISTS " + app_schema_ +
                                   " CASCADE; CREATE SCHEMA " + app_schema_),
            "");
}

void PostgresTest::TearDown() {
  if (server_url_.empty() || HasFailure()) return;  // a failed test's schemas stay for a look
  PgConn conn = PgConnect(server_url_);
  if (conn == nullptr) return;
  EXPECT_EQ(PgExec(conn.get(), "SET client_min_messages = warning; DROP SCHEMA IF EXISTS " +
                                   schema_ + " CASCADE; DROP SCHEMA IF EXISTS " + app_schema_ +
                                   " CASCADE"),
            "");
}

std::string PostgresTest::StoreUrl(const std::string& params) const {
  std::string url = server_url_;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += "schema=" + schema_;
  if (!params.empty()) url += "&" + params;
  return url;
}

ProcessResult PostgresTest::Herald(std::vector<std::string> args,
                                   std::map<std::string, std::string> env) const {
  args.insert(args.begin(), HERALD_BINARY);
  return RunProgram(std::move(args), dir_.path(), std::move(env), std::chrono::seconds(60));
}

std::vector<std::string> PostgresTest::RelayArgs(const std::string& url,
                                                 const std::filesystem::path& sink,
                                                 std::vector<std::string> extra) const {
  std::vector<std::string> args = {HERALD_BINARY, "relay",       "--db",
                                   url,           "--publisher", "file:" + sink.string(),
                                   "--log-level", "warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

void PostgresTest::MigrateWithCli(const std::string& url) {
  ProcessResult r = Herald({"migrate", "--db", url});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

Manifest PostgresTest::EnqueueBacklog(long events, int keys, long per_transaction) const {
  Manifest manifest;
  PgConn conn = Connect();
  if (conn == nullptr) return manifest;
  postgres::EnqueueOptions options;
  options.schema = schema_;
  std::vector<Event> chunk;
  std::map<std::string, long> next_n;
  for (long i = 0; i < events; ++i) {
    std::string key = "k-" + std::to_string(i % keys);
    chunk.push_back(Event::Make("orders", key, "OrderPlaced", KeyedPayload(key, next_n[key]++)));
    if (static_cast<long>(chunk.size()) < per_transaction && i + 1 < events) continue;
    EXPECT_EQ(PgExec(conn.get(), "BEGIN"), "");
    Status s = postgres::EnqueueBatch(conn.get(), chunk, options);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(PgExec(conn.get(), s.ok() ? "COMMIT" : "ROLLBACK"), "");
    if (s.ok()) {
      for (const Event& e : chunk) manifest.Add(e.id.ToString(), e.key);
    }
    chunk.clear();
  }
  return manifest;
}

OutboxStats PostgresTest::Stats(const std::string& url) const {
  Result<std::unique_ptr<Store>> store = OpenStore(url);
  if (!store) {
    ADD_FAILURE() << "open " << url << ": " << store.error().ToString();
    return {};
  }
  Result<OutboxStats> stats = (*store)->Stats();
  if (!stats) {
    ADD_FAILURE() << "stats of " << url << ": " << stats.error().ToString();
    return {};
  }
  return *stats;
}

}  // namespace herald::test
