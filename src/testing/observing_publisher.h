// A Publisher that forwards every call to another one and shows each
// delivery to a hook on its way back: for tests and benchmarks that need to
// know when or how an event was confirmed without changing the publisher.
#ifndef HERALD_TESTING_OBSERVING_PUBLISHER_H_
#define HERALD_TESTING_OBSERVING_PUBLISHER_H_

#include <functional>
#include <span>
#include <string>
#include <utility>

#include "herald/event.h"
#include "herald/publisher.h"

namespace herald::testing {

// Thread-safe as far as `inner` and `hook` are. `inner` is not owned.
class ObservingPublisher final : public Publisher {
 public:
  // Called for every delivery, from whichever thread reports it, before it
  // is passed on.
  using Hook = std::function<void(const Event& event, const Delivery& delivery)>;

  ObservingPublisher(Publisher& inner, Hook hook) : inner_(inner), hook_(std::move(hook)) {}
  // A hook that sees only the delivery.
  ObservingPublisher(Publisher& inner, std::function<void(const Delivery&)> hook)
      : ObservingPublisher(inner, [hook = std::move(hook)](const Event&, const Delivery& d) {
          hook(d);
        }) {}

  Guarantees guarantees() const override { return inner_.guarantees(); }

  void Publish(std::span<const Event> events, DeliveryCallback on_delivery) override {
    inner_.Publish(events, [this, events, on_delivery = std::move(on_delivery)](
                               std::size_t i, Delivery d) {
      hook_(events[i], d);
      on_delivery(i, std::move(d));
    });
  }

  void Resume(std::span<const std::string> keys) override { inner_.Resume(keys); }

 private:
  Publisher& inner_;
  Hook hook_;
};

}  // namespace herald::testing

#endif  // HERALD_TESTING_OBSERVING_PUBLISHER_H_
