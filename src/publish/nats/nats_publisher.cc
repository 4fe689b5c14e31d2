#include "publish/nats/nats_publisher.h"

#include <nats/nats.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/log.h"
#include "publish/nats/nats_connection.h"

namespace herald::publish {
namespace {

using std::chrono::milliseconds;

// How long one js_PublishMsgAsync call waits while max_pending messages
// wait for acks, before Publish() looks at the connection again.
constexpr int64_t kStallWaitMillis = 50;
// On destruction: what outstanding acks get on top of the ack timeout.
constexpr milliseconds kCloseSlack{1000};
// Subjects remembered as refused by the server's permissions, at most.
constexpr std::size_t kMaxDeniedSubjects = 1024;

// What went wrong with one message.
enum class Failure {
  kPermanent,    // the server refused it for good
  kUnreachable,  // no server, or no ack in time
  kTransient,    // anything else
};

// JetStream API errors (err_code) that may pass: cluster or storage
// trouble, a stream offline or without leader.
bool IsTransientJsError(jsErrCode code, std::string_view text) {
  switch (static_cast<int>(code)) {
    case 10004:  // JSClusterIncompleteErr
    case 10007:  // JSClusterNotAssignedErr
    case 10008:  // JSClusterNotAvailErr
    case 10009:  // JSClusterNotLeaderErr
    case 10023:  // JSInsufficientResourcesErr
    case 10039:  // JSNotEnabledForAccountErr
    case 10076:  // JSNotEnabledErr
    case 10118:  // JSStreamOfflineErr
      return true;
    case 10077:  // JSStreamStoreFailedF: limits are for good, other failures not
      return text.find("maximum") == std::string_view::npos &&
             text.find("too large") == std::string_view::npos;
    default:
      return false;
  }
}

// A header name NATS can carry: printable ASCII, no ':' or space.
bool IsValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ':') return false;
  }
  return true;
}

bool IsValidHeaderValue(std::string_view value) {
  return value.find_first_of("\r\n", 0) == std::string_view::npos &&
         value.find('\0') == std::string_view::npos;
}

std::string LastError(natsStatus s) { return NatsLastError(s); }


void OnReconnected(natsConnection* nc, void* /*closure*/) {
  std::array<char, 256> url{};
  natsConnection_GetConnectedUrl(nc, url.data(), url.size());
  LogInfo("nats: connected to {}", url.data());
}


// The subject of a publish permissions violation, as the server words it:
// `Permissions Violation for Publish to "orders.eu"`. Empty for other errors.
std::string DeniedSubject(std::string_view error) {
  constexpr std::string_view kMarker = "Permissions Violation for Publish to";
  std::size_t at = error.find(kMarker);
  if (at == std::string_view::npos) return {};
  std::size_t open = error.find('"', at + kMarker.size());
  if (open == std::string_view::npos) return {};
  std::size_t close = error.find('"', open + 1);
  if (close == std::string_view::npos) return {};
  return std::string(error.substr(open + 1, close - open - 1));
}

}  // namespace

// One Publish() call: successes are reported as their acks arrive, failures
// held until the call's last event is known, so that the call as a whole
// can be judged (did it meet any server?). Deletes itself after the last
// report. Thread-safe.
class NatsPublisher::Call {
 public:
  Call(NatsPublisher& owner, std::size_t size, DeliveryCallback on_delivery)
      : owner_(owner), on_delivery_(std::move(on_delivery)), remaining_(size + 1) {}

  void Published(std::size_t index) {
    on_delivery_(index, Delivery{});
    std::unique_lock<std::mutex> lock(mu_);
    ++published_;
    Arrive(lock);
  }

  void Failed(std::size_t index, Failure kind, std::string error) {
    std::unique_lock<std::mutex> lock(mu_);
    failures_.push_back(Held{index, kind, std::move(error)});
    Arrive(lock);
  }

  // Called once every event was handed to cnats (or failed at once).
  void DoneHandingOver() {
    std::unique_lock<std::mutex> lock(mu_);
    Arrive(lock);
  }

 private:
  struct Held {
    std::size_t index;
    Failure kind;
    std::string error;
  };

  void Arrive(std::unique_lock<std::mutex>& lock) {
    if (--remaining_ > 0) return;
    lock.unlock();
    Finish();
  }

  void Finish() {
    bool all_unreachable = published_ == 0;
    for (const Held& f : failures_) {
      if (f.kind != Failure::kUnreachable) all_unreachable = false;
    }
    const bool down = all_unreachable || !owner_.connected();
    for (Held& f : failures_) {
      Outcome outcome = Outcome::kRetry;
      if (f.kind == Failure::kPermanent) outcome = Outcome::kRejected;
      if (f.kind == Failure::kUnreachable && down) outcome = Outcome::kUnavailable;
      on_delivery_(f.index, Delivery{outcome, std::move(f.error)});
    }
    NatsPublisher& owner = owner_;
    delete this;
    owner.CallFinished();
  }

  NatsPublisher& owner_;
  const DeliveryCallback on_delivery_;
  std::mutex mu_;
  std::size_t remaining_;       // guarded by mu_
  std::size_t published_ = 0;   // guarded by mu_
  std::vector<Held> failures_;  // guarded by mu_
};

// What cnats calls back into for one connection. cnats runs connection
// callbacks on a thread of its own, after natsConnection_Close() and
// natsConnection_Destroy() have returned, and acks on a subscription's
// thread; so the publisher does not hand cnats itself. It detaches from
// the listener before it closes the connection (waiting for callbacks that
// are running) and frees it once the connection's closed callback, the last
// one cnats posts, has run.
class NatsPublisher::Listener {
 public:
  explicit Listener(NatsPublisher* owner) : owner_(owner) {}

  // Runs f(owner) and returns true, or returns false once detached.
  template <typename F>
  bool With(F&& f) {
    NatsPublisher* owner = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (owner_ == nullptr) return false;
      owner = owner_;
      ++active_;
    }
    f(*owner);
    std::lock_guard<std::mutex> lock(mu_);
    --active_;
    changed_.notify_all();
    return true;
  }

  // No callback reaches the owner once this returns.
  void Detach() {
    std::unique_lock<std::mutex> lock(mu_);
    owner_ = nullptr;
    changed_.wait(lock, [this] { return active_ == 0; });
  }

  // The connection's closed callback: nothing is posted after it. The last
  // thing the callback does with this listener.
  void Closed() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    changed_.notify_all();
  }

  // Frees `listener` once its connection's closed callback has run, waiting
  // up to `timeout`; otherwise leaves it to cnats's late callbacks (a few
  // bytes) rather than free what a callback may still use.
  static void Release(Listener* listener, milliseconds timeout) {
    {
      std::unique_lock<std::mutex> lock(listener->mu_);
      if (!listener->changed_.wait_for(lock, timeout, [listener] { return listener->closed_; })) {
        LogDebug("nats: no closed callback in time; the listener stays");
        return;
      }
    }
    delete listener;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  NatsPublisher* owner_;  // guarded by mu_; null once detached
  int active_ = 0;        // guarded by mu_: callbacks running now
  bool closed_ = false;   // guarded by mu_
};

Result<std::unique_ptr<NatsPublisher>> NatsPublisher::Open(std::string_view url,
                                                           const PublisherOptions& options) {
  Result<NatsConfig> config = ParseNatsConfig(url, options);
  if (!config) return std::unexpected(config.error());
  std::unique_ptr<NatsPublisher> publisher(new NatsPublisher(std::move(*config)));
  if (Status s = publisher->Connect(); !s.ok()) return std::unexpected(s);
  return publisher;
}

NatsPublisher::NatsPublisher(NatsConfig config)
    : config_(std::move(config)),
      cloud_events_{.source = config_.source, .subject_from_key = true} {}

Status NatsPublisher::Connect() {
  natsOptions* opts = nullptr;
  if (natsOptions_Create(&opts) != NATS_OK) return Internal("nats: cannot make options");
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> guard(opts, natsOptions_Destroy);
  auto check = [](natsStatus s, std::string_view what) -> Status {
    if (s == NATS_OK) return OkStatus();
    return InvalidArgument(fmt::format("nats {}: {}", what, LastError(s)));
  };
  Status s = SetNatsConnectionOptions(opts, config_);
  if (s.ok()) {
    s = check(natsOptions_SetRetryOnFailedConnect(opts, true, OnReconnected, nullptr),
              "retry on failed connect");
  }
  auto listener = std::make_unique<Listener>(this);
  if (s.ok()) {
    s = check(natsOptions_SetDisconnectedCB(opts, &NatsPublisher::OnDisconnected, listener.get()),
              "callback");
  }
  if (s.ok()) s = check(natsOptions_SetReconnectedCB(opts, OnReconnected, nullptr), "callback");
  if (s.ok()) {
    s = check(natsOptions_SetClosedCB(opts, &NatsPublisher::OnClosed, listener.get()), "callback");
  }
  if (s.ok()) {
    s = check(natsOptions_SetErrorHandler(opts, &NatsPublisher::OnAsyncError, listener.get()),
              "callback");
  }
  if (!s.ok()) return s;

  natsStatus st = natsConnection_Connect(&nc_, opts);
  if (st == NATS_NOT_YET_CONNECTED) {
    LogWarning("nats: no server answers yet, connecting in the background");
  } else if (st != NATS_OK) {
    // cnats made no connection, so posts no callback for one.
    nc_ = nullptr;
    return InvalidArgument(fmt::format("nats connect: {}", LastError(st)));
  }
  listener_ = listener.release();

  jsOptions jso;
  jsOptions_Init(&jso);
  jso.Wait = config_.ack_timeout.count();
  jso.PublishAsync.MaxPending = config_.max_pending;
  jso.PublishAsync.AckHandler = &NatsPublisher::OnAck;
  jso.PublishAsync.AckHandlerClosure = listener_;
  jso.PublishAsync.StallWait = kStallWaitMillis;
  st = natsConnection_JetStream(&js_, nc_, &jso);
  if (st != NATS_OK) {
    std::string error = LastError(st);
    CloseConnection();
    return Internal(fmt::format("nats JetStream context: {}", error));
  }
  return OkStatus();
}

NatsPublisher::~NatsPublisher() { CloseConnection(); }

void NatsPublisher::CloseConnection() {
  if (js_ != nullptr) {
    if (!WaitForCalls(config_.ack_timeout + kCloseSlack)) {
      // Whatever still waits for its ack is handed back (the acks of a
      // closed connection never come).
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) {
        for (int i = 0; i < pending.Count; ++i) {
          Ref ref = Take(pending.Msgs[i]);
          if (ref.call != nullptr) {
            ref.call->Failed(ref.index, Failure::kTransient,
                             "nats connection closed before the JetStream ack came");
          }
        }
        natsMsgList_Destroy(&pending);
      }
      if (!WaitForCalls(kCloseSlack)) {
        LogError("nats connection closed with calls still waiting for acks");
      }
    }
    jsCtx_Destroy(js_);
    js_ = nullptr;
  }
  if (nc_ != nullptr) {
    listener_->Detach();  // a disconnect now is no outage
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
    nc_ = nullptr;
    Listener::Release(listener_, config_.connect_timeout + kCloseSlack);
    listener_ = nullptr;
  }
}

void NatsPublisher::Rebuild() {
  LogWarning("nats: the connection was closed; making a new one");
  CloseConnection();
  rebuilds_.fetch_add(1);
  stream_ready_ = false;
  if (Status s = Connect(); !s.ok()) {
    LogError("nats: no new connection: {}", s.ToString());
  }
}

Guarantees NatsPublisher::guarantees() const {
  return Guarantees{.keeps_key_order = false, .deduplicates_by_id = true};
}

bool NatsPublisher::connected() const {
  return nc_ != nullptr && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

void NatsPublisher::EnsureStream() {
  if (config_.create_stream.empty() || stream_ready_.load() || !connected()) return;
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js_, config_.create_stream.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    stream_ready_ = true;
    return;
  }
  if (s != NATS_NOT_FOUND) {
    LogWarning("nats: cannot look up stream '{}': {}", config_.create_stream, LastError(s));
    return;
  }
  std::vector<const char*> subjects;
  for (const std::string& subject : config_.create_stream_subjects) {
    subjects.push_back(subject.c_str());
  }
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = config_.create_stream.c_str();
  cfg.Subjects = subjects.data();
  cfg.SubjectsLen = static_cast<int>(subjects.size());
  cfg.Storage = js_FileStorage;
  s = js_AddStream(&info, js_, &cfg, nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    LogInfo("nats: created stream '{}'", config_.create_stream);
    stream_ready_ = true;
    return;
  }
  LogWarning("nats: cannot create stream '{}': {}", config_.create_stream, LastError(s));
}

void NatsPublisher::Publish(std::span<const Event> events, DeliveryCallback on_delivery) {
  if (events.empty()) return;
  // cnats gives a connection up for good on a repeated authentication
  // error or an unknown protocol error; every other outage it rides out.
  if (nc_ == nullptr || natsConnection_Status(nc_) == NATS_CONN_STATUS_CLOSED) Rebuild();
  EnsureStream();
  CallStarted();
  auto* call = new Call(*this, events.size(), std::move(on_delivery));
  for (std::size_t i = 0; i < events.size(); ++i) PublishOne(*call, i, events[i]);
  call->DoneHandingOver();
}

void NatsPublisher::PublishOne(Call& call, std::size_t index, const Event& event) {
  const std::string subject = config_.subject_prefix + event.topic;
  if (!IsValidPublishSubject(subject)) {
    call.Failed(index, Failure::kPermanent,
                fmt::format("'{}' is not a subject one can publish to", subject));
    return;
  }
  if (!connected()) {
    call.Failed(index, Failure::kUnreachable,
                fmt::format("nats: not connected to any server, subject '{}'", subject));
    return;
  }
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, event.payload.data(),
                                static_cast<int>(event.payload.size()));
  if (s != NATS_OK) {
    call.Failed(index, Failure::kTransient, fmt::format("nats message: {}", LastError(s)));
    return;
  }
  // CloudEvents attributes, then the event's own headers (cnats copies
  // names and values).
  const CloudEventsHeaders attributes(event, cloud_events_, CloudEventsBinding::kNats);
  for (const CloudEventsHeader& h : attributes) {
    if (s == NATS_OK && !IsValidHeaderValue(h.value)) {
      natsMsg_Destroy(msg);
      call.Failed(index, Failure::kPermanent,
                  fmt::format("header '{}' has a line break, subject '{}'", h.name, subject));
      return;
    }
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, std::string(h.name).c_str(),
                                            std::string(h.value).c_str());
  }
  for (const auto& [name, value] : event.headers) {
    if (!IsValidHeaderName(name) || !IsValidHeaderValue(value)) {
      natsMsg_Destroy(msg);
      call.Failed(index, Failure::kPermanent,
                  fmt::format("header '{}' cannot be a NATS header (name of printable ASCII "
                              "without ':', value without line breaks), subject '{}'",
                              name, subject));
      return;
    }
    if (s == NATS_OK) s = natsMsgHeader_Add(msg, name.c_str(), value.c_str());
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    call.Failed(index, Failure::kTransient, fmt::format("nats headers: {}", LastError(s)));
    return;
  }

  const std::string id = event.id.ToString();
  jsPubOptions popts;
  jsPubOptions_Init(&popts);
  popts.MsgId = id.c_str();
  popts.MaxWait = config_.ack_timeout.count();
  Register(msg, Ref{&call, index});
  natsMsg* owned = msg;  // js_PublishMsgAsync clears `msg` once cnats owns it
  while (true) {
    s = js_PublishMsgAsync(js_, &msg, &popts);
    if (s == NATS_OK) return;  // the ack handler reports it
    // NATS_TIMEOUT: max_pending messages wait for acks; wait on while a
    // server is there (acks or ack timeouts free room).
    if (s == NATS_TIMEOUT && connected()) continue;
    break;
  }
  Take(owned);
  natsMsg_Destroy(msg);
  Failure kind = Failure::kTransient;
  if (s == NATS_MAX_PAYLOAD || s == NATS_INVALID_SUBJECT) kind = Failure::kPermanent;
  if (s == NATS_TIMEOUT || s == NATS_CONNECTION_CLOSED || s == NATS_CONNECTION_DISCONNECTED ||
      s == NATS_INSUFFICIENT_BUFFER || s == NATS_NOT_YET_CONNECTED) {
    kind = Failure::kUnreachable;
  }
  call.Failed(index, kind, fmt::format("nats publish: {}, subject '{}'", LastError(s), subject));
}

void NatsPublisher::Register(natsMsg* msg, Ref ref) {
  std::lock_guard<std::mutex> lock(refs_mu_);
  refs_[msg] = ref;
}

NatsPublisher::Ref NatsPublisher::Take(natsMsg* msg) {
  std::lock_guard<std::mutex> lock(refs_mu_);
  auto it = refs_.find(msg);
  if (it == refs_.end()) return Ref{nullptr, 0};
  Ref ref = it->second;
  refs_.erase(it);
  return ref;
}

void NatsPublisher::OnAck(jsCtx* /*js*/, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error,
                          void* closure) {
  static_cast<Listener*>(closure)->With(
      [&](NatsPublisher& publisher) { publisher.HandleAck(msg, ack, error); });
  natsMsg_Destroy(msg);
}

void NatsPublisher::HandleAck(natsMsg* msg, const jsPubAck* ack, const jsPubAckErr* error) {
  Ref ref = Take(msg);
  if (ref.call == nullptr) return;  // handed back by the destructor
  if (ack != nullptr) {
    if (ack->Duplicate) duplicates_.fetch_add(1);
    ref.call->Published(ref.index);
    return;
  }
  const char* subject_text = natsMsg_GetSubject(msg);
  const std::string_view subject = subject_text != nullptr ? subject_text : "";
  const std::string_view text =
      error != nullptr && error->ErrText != nullptr ? error->ErrText : "unknown error";
  const natsStatus err = error != nullptr ? error->Err : NATS_ERR;
  if (err == NATS_TIMEOUT && WasDenied(subject)) {
    // The server refused the publish (no ack ever comes for it).
    ref.call->Failed(ref.index, Failure::kPermanent,
                     fmt::format("not authorised: Permissions Violation for Publish to '{}'",
                                 subject));
  } else if (err == NATS_TIMEOUT) {
    ref.call->Failed(ref.index, Failure::kUnreachable,
                     fmt::format("no JetStream ack within {} ms, subject '{}'",
                                 config_.ack_timeout.count(), subject));
  } else if (err == NATS_NO_RESPONDERS) {
    // A stream this publisher creates may be missing for a moment (a new
    // server); otherwise nothing stores the subject.
    const bool will_create = !config_.create_stream.empty();
    if (will_create) stream_ready_ = false;
    ref.call->Failed(ref.index, will_create ? Failure::kTransient : Failure::kPermanent,
                     fmt::format("no JetStream stream for subject '{}' (no responders)", subject));
  } else if (error != nullptr && error->ErrCode != 0) {
    ref.call->Failed(ref.index,
                     IsTransientJsError(error->ErrCode, text) ? Failure::kTransient
                                                              : Failure::kPermanent,
                     fmt::format("JetStream: {} (err_code {}), subject '{}'", text,
                                 static_cast<int>(error->ErrCode), subject));
  } else {
    ref.call->Failed(ref.index, Failure::kTransient,
                     fmt::format("JetStream publish: {}, subject '{}'", text, subject));
  }
}

void NatsPublisher::OnDisconnected(natsConnection* /*nc*/, void* closure) {
  // Once the publisher has detached, it is closing: no outage.
  static_cast<Listener*>(closure)->With(
      [](NatsPublisher&) { LogWarning("nats: disconnected from the server"); });
}

void NatsPublisher::OnClosed(natsConnection* nc, void* closure) {
  auto* listener = static_cast<Listener*>(closure);
  const bool gave_up = listener->With([nc](NatsPublisher&) {
    const char* text = nullptr;
    natsConnection_GetLastError(nc, &text);
    LogWarning("nats: cnats gave the connection up{}{}; the next call makes a new one",
                 text != nullptr && *text != '\0' ? ": " : "", text != nullptr ? text : "");
  });
  if (!gave_up) LogDebug("nats: connection closed");
  listener->Closed();
}

void NatsPublisher::OnAsyncError(natsConnection* nc, natsSubscription* /*sub*/, natsStatus err,
                                 void* closure) {
  const char* text = nullptr;
  natsConnection_GetLastError(nc, &text);
  const std::string_view error = text != nullptr ? text : "";
  if (err == NATS_NOT_PERMITTED) {
    if (std::string subject = DeniedSubject(error); !subject.empty()) {
      static_cast<Listener*>(closure)->With(
          [&](NatsPublisher& publisher) { publisher.Denied(std::move(subject)); });
    }
  }
  LogWarning("nats: {}{}{}", natsStatus_GetText(err), error.empty() ? "" : ": ", error);
}

void NatsPublisher::Denied(std::string subject) {
  std::lock_guard<std::mutex> lock(denied_mu_);
  if (denied_.size() > kMaxDeniedSubjects) denied_.clear();
  denied_[std::move(subject)] = std::chrono::steady_clock::now();
}

bool NatsPublisher::WasDenied(std::string_view subject) {
  std::lock_guard<std::mutex> lock(denied_mu_);
  auto it = denied_.find(std::string(subject));
  if (it == denied_.end()) return false;
  // Only a refusal seen since the message could have been sent counts.
  return std::chrono::steady_clock::now() - it->second < 2 * config_.ack_timeout + kCloseSlack;
}

void NatsPublisher::CallStarted() {
  std::lock_guard<std::mutex> lock(mu_);
  ++outstanding_calls_;
}

void NatsPublisher::CallFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  --outstanding_calls_;
  calls_done_.notify_all();
}

bool NatsPublisher::WaitForCalls(milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return calls_done_.wait_for(lock, timeout, [this] { return outstanding_calls_ == 0; });
}

}  // namespace herald::publish
