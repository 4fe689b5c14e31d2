// The Budgets and Analytics services of the example system as a program:
// reads the `transactions` topic of a Kafka cluster and applies every event
// through the inbox of each service's own SQLite database, then prints the
// spending per account and the per-category counts.
//
//   budgets_consumer --brokers HOST:PORT[,...] --dir DIR [--seconds N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "services/consumers.h"
#include "services/kafka_reader.h"

int main(int argc, char** argv) {
  std::string brokers, dir;
  long seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag == "--brokers")
      brokers = argv[i + 1];
    else if (flag == "--dir")
      dir = argv[i + 1];
    else if (flag == "--seconds")
      seconds = std::strtol(argv[i + 1], nullptr, 10);
  }
  if (brokers.empty() || dir.empty() || seconds < 0 || argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: budgets_consumer --brokers HOST:PORT[,...] --dir DIR "
                 "[--seconds N]\n");
    return 2;
  }
  auto fail = [](const herald::Status& s) {
    std::fprintf(stderr, "budgets_consumer: %s\n", s.ToString().c_str());
    return 1;
  };
  auto budgets = herald::examples::BudgetsService::Open(dir + "/budgets.db");
  if (!budgets) return fail(budgets.error());
  auto analytics = herald::examples::AnalyticsService::Open(dir + "/analytics.db");
  if (!analytics) return fail(analytics.error());
  auto reader = herald::examples::KafkaReader::Open(
      brokers, std::string(herald::examples::kTransactionsTopic));
  if (!reader) return fail(reader.error());

  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    auto message = (*reader)->Poll(std::chrono::milliseconds(200));
    if (!message) {
      std::fprintf(stderr, "budgets_consumer: skipped: %s\n", message.error().ToString().c_str());
      continue;
    }
    if (!message->has_value()) continue;
    for (herald::examples::EventConsumer* service :
         {static_cast<herald::examples::EventConsumer*>(budgets->get()),
          static_cast<herald::examples::EventConsumer*>(analytics->get())}) {
      auto outcome = service->Handle((*message)->id, (*message)->payload);
      if (!outcome) return fail(outcome.error());  // not applied: rerun to have it redelivered
    }
  }
  auto spent = (*budgets)->SpentByAccount();
  auto categories = (*analytics)->CategoryCounts();
  if (!spent) return fail(spent.error());
  if (!categories) return fail(categories.error());
  for (const auto& [account, cents] : *spent) {
    std::printf("budgets   %-12s %10lld cents\n", account.c_str(), static_cast<long long>(cents));
  }
  for (const auto& [category, n] : *categories) {
    std::printf("analytics %-12s %10lld transactions\n", category.c_str(),
                static_cast<long long>(n));
  }
  std::printf("duplicates absorbed by the inbox: budgets %llu, analytics %llu\n",
              static_cast<unsigned long long>((*budgets)->inbox_stats().duplicates),
              static_cast<unsigned long long>((*analytics)->inbox_stats().duplicates));
  return 0;
}
