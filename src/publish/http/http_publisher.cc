#include "publish/http/http_publisher.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/log.h"
#include "core/secrets.h"
#include "publish/common/cloud_events.h"
#include "publish/http/http_message.h"
#include "publish/http/webhook_signature.h"

namespace herald::publish {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How much of a refusing response's body goes into the event's error.
constexpr std::size_t kBodyStart = 200;

bool Readable(const std::string& path) {
  std::ifstream in(path);
  return in.good();
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool ConnectFailure(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return true;
    default:
      return false;
  }
}

std::string Printable(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(c >= 0x20 && c != 0x7f ? static_cast<char>(c) : ' ');
  }
  return out;
}

}  // namespace

struct HttpPublisher::Call {
  std::span<const Event> events;
  DeliveryCallback on_delivery;
};

// Everything the publisher's thread owns: the multi handle, the requests
// waiting to start and those in flight. Touched by that thread only, but
// Wake().
class HttpPublisher::Worker {
 public:
  explicit Worker(HttpPublisher& owner)
      : owner_(owner),
        config_(owner.config_),
        cloud_events_{.source = config_.source, .subject_from_key = true},
        multi_(curl_multi_init()) {
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(config_.max_in_flight));
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(config_.max_in_flight));
  }

  ~Worker() {
    for (CURL* easy : free_) curl_easy_cleanup(easy);
    curl_multi_cleanup(multi_);
  }

  bool ok() const { return multi_ != nullptr; }

  // Thread-safe.
  void Wake() { curl_multi_wakeup(multi_); }

  void Run() {
    bool stopping = false;
    for (;;) {
      stopping = TakeQueued() || stopping;
      if (stopping && !waiting_.empty()) {
        FailWaiting(Outcome::kRetry, "the publisher was closed before the request was sent");
      }
      StartSome();
      int running = 0;
      curl_multi_perform(multi_, &running);
      Finish();
      if (stopping && in_flight_.empty() && waiting_.empty()) break;
      int timeout = 1000;
      if (!waiting_.empty() && in_flight_.size() < Window()) {
        const auto left = std::chrono::duration_cast<milliseconds>(hold_until_ - Clock::now());
        timeout = static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 0, 1000));
      }
      curl_multi_poll(multi_, nullptr, 0, timeout, nullptr);
    }
  }

 private:
  // One request: the events of one call (one in single mode) to one URL.
  struct Request {
    std::shared_ptr<Call> call;
    std::vector<std::size_t> indices;
    std::string url;
    std::string batch_body;  // batch mode: the JSON array
    std::string_view body;   // what is sent: the payload (single mode) or batch_body
    curl_slist* headers = nullptr;
    CURL* easy = nullptr;
    std::string status_line;
    std::string body_start;
    char error[CURL_ERROR_SIZE] = {};
  };

  std::size_t Window() const { return static_cast<std::size_t>(config_.max_in_flight); }

  static void Report(const Request& r, Outcome outcome, const std::string& error) {
    for (std::size_t i : r.indices) r.call->on_delivery(i, Delivery{outcome, error});
  }

  // Moves queued calls to waiting_ as requests; true when closing.
  bool TakeQueued() {
    std::deque<std::shared_ptr<Call>> calls;
    bool stopping = false;
    {
      std::lock_guard<std::mutex> lock(owner_.mu_);
      calls.swap(owner_.queue_);
      stopping = owner_.stopping_;
    }
    for (std::shared_ptr<Call>& call : calls) Split(call);
    return stopping;
  }

  void Split(const std::shared_ptr<Call>& call) {
    if (!config_.batch) {
      for (std::size_t i = 0; i < call->events.size(); ++i) {
        const Event& e = call->events[i];
        auto r = std::make_unique<Request>();
        r->call = call;
        r->indices.push_back(i);
        r->url = ExpandUrl(config_.url_template, e.topic, e.key);
        waiting_.push_back(std::move(r));
      }
      return;
    }
    // One request per URL, in the order of each URL's first event.
    std::vector<std::unique_ptr<Request>> open;
    std::map<std::string, std::size_t> by_url;
    for (std::size_t i = 0; i < call->events.size(); ++i) {
      const Event& e = call->events[i];
      std::string url = ExpandUrl(config_.url_template, e.topic, e.key);
      auto it = by_url.find(url);
      if (it == by_url.end() ||
          open[it->second]->indices.size() >= static_cast<std::size_t>(config_.batch_max_events)) {
        auto r = std::make_unique<Request>();
        r->call = call;
        r->url = url;
        by_url[url] = open.size();
        open.push_back(std::move(r));
        it = by_url.find(url);
      }
      open[it->second]->indices.push_back(i);
    }
    for (auto& r : open) waiting_.push_back(std::move(r));
  }

  void FailWaiting(Outcome outcome, const std::string& why) {
    std::deque<std::unique_ptr<Request>> failing;
    failing.swap(waiting_);
    for (auto& r : failing) Report(*r, outcome, why);
  }

  void StartSome() {
    while (!waiting_.empty() && in_flight_.size() < Window()) {
      if (Clock::now() < hold_until_) return;
      std::unique_ptr<Request> r = std::move(waiting_.front());
      waiting_.pop_front();
      Start(std::move(r));
    }
  }

  void Start(std::unique_ptr<Request> r) {
    const Call& call = *r->call;
    std::string id;
    std::string content_type;
    HttpHeaders headers;
    if (!config_.batch) {
      const Event& e = call.events[r->indices[0]];
      if (std::string why = CheckHttpHeaders(e); !why.empty()) {
        Report(*r, Outcome::kRejected, why);
        return;
      }
      headers = SingleRequestHeaders(e, cloud_events_);
      id = e.id.ToString();
      r->body = e.payload;  // valid until the call's last delivery
    } else {
      std::vector<const Event*> events;
      events.reserve(r->indices.size());
      for (std::size_t i : r->indices) events.push_back(&call.events[i]);
      r->batch_body = BatchBody(events, cloud_events_);
      r->body = r->batch_body;
      id = BatchId(events);
      headers.emplace_back("content-type", std::string(kCloudEventsBatchContentType));
      headers.emplace_back("Idempotency-Key", id);
    }
    if (!config_.signing_secret.empty()) {
      const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
      headers.emplace_back("webhook-id", id);
      headers.emplace_back("webhook-timestamp", std::to_string(now));
      headers.emplace_back("webhook-signature",
                           WebhookSignature(config_.signing_secret, id, now, r->body));
    }
    for (const auto& [name, value] : headers) {
      const std::string line =
          value.empty() ? fmt::format("{};", name) : fmt::format("{}: {}", name, value);
      r->headers = curl_slist_append(r->headers, line.c_str());
    }
    r->headers = curl_slist_append(r->headers, "Expect:");

    CURL* easy = nullptr;
    if (!free_.empty()) {
      easy = free_.back();
      free_.pop_back();
      curl_easy_reset(easy);
    } else {
      easy = curl_easy_init();
    }
    if (easy == nullptr) {
      Report(*r, Outcome::kRetry, "cannot make a request (out of memory)");
      curl_slist_free_all(r->headers);
      return;
    }
    r->easy = easy;
    curl_easy_setopt(easy, CURLOPT_URL, r->url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r->body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r->body.size()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "herald");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.request_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, r.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Worker::OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, r.get());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Worker::OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, r.get());
    if (config_.tls) {
      curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
      curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
      if (!config_.tls_ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, config_.tls_ca_file.c_str());
      if (!config_.tls_cert_file.empty()) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, config_.tls_cert_file.c_str());
        curl_easy_setopt(easy, CURLOPT_SSLKEY, config_.tls_key_file.c_str());
      }
      if (config_.tls_skip_verify) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
      }
    } else {
      curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    }
    if (CURLMcode mc = curl_multi_add_handle(multi_, easy); mc != CURLM_OK) {
      Report(*r, Outcome::kRetry, fmt::format("cannot start the request: {}", curl_multi_strerror(mc)));
      Release(*r);
      return;
    }
    ++owner_.requests_;
    Request* raw = r.get();
    in_flight_.emplace(raw, std::move(r));
  }

  static std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
    auto* r = static_cast<Request*>(user);
    std::string_view line(data, size * n);
    if (line.starts_with("HTTP/")) {
      while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
      r->status_line = std::string(line);
    }
    return size * n;
  }

  static std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
    auto* r = static_cast<Request*>(user);
    if (r->body_start.size() < kBodyStart) {
      r->body_start.append(data, std::min(size * n, kBodyStart - r->body_start.size()));
    }
    return size * n;
  }

  void Release(Request& r) {
    if (r.easy != nullptr) {
      if (free_.size() < Window()) {
        free_.push_back(r.easy);
      } else {
        curl_easy_cleanup(r.easy);
      }
      r.easy = nullptr;
    }
    curl_slist_free_all(r.headers);
    r.headers = nullptr;
  }

  void Finish() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode rc = msg->data.result;
      Request* raw = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
      curl_multi_remove_handle(multi_, easy);
      auto it = in_flight_.find(raw);
      if (it == in_flight_.end()) continue;
      std::unique_ptr<Request> r = std::move(it->second);
      in_flight_.erase(it);
      Judge(*r, rc);
      Release(*r);
    }
  }

  void Judge(Request& r, CURLcode rc) {
    const std::string where = MaskSecrets(r.url);
    if (rc != CURLE_OK) {
      std::string why = r.error[0] != '\0' ? std::string(r.error) : curl_easy_strerror(rc);
      // Nothing of the request was sent: the endpoint could not be reached.
      long sent = 0;
      curl_easy_getinfo(r.easy, CURLINFO_REQUEST_SIZE, &sent);
      const bool never_connected =
          ConnectFailure(rc) || (rc == CURLE_OPERATION_TIMEDOUT && sent == 0);
      if (never_connected) {
        Report(r, Outcome::kUnavailable, fmt::format("POST {}: no connection: {}", where, MaskSecrets(why)));
      } else {
        Report(r, Outcome::kRetry, fmt::format("POST {}: {}", where, MaskSecrets(why)));
      }
      return;
    }
    long status = 0;
    curl_easy_getinfo(r.easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      Report(r, Outcome::kPublished, {});
      return;
    }
    std::string status_line = r.status_line.empty() ? fmt::format("HTTP {}", status) : r.status_line;
    std::string detail = fmt::format("POST {}: {}", where, status_line);
    if (status == 408 || status == 429 || status >= 500) {
      curl_off_t retry_after = 0;
      curl_easy_getinfo(r.easy, CURLINFO_RETRY_AFTER, &retry_after);
      if (retry_after > 0) {
        detail += fmt::format(" (Retry-After: {} s)", retry_after);
        const milliseconds wait =
            std::min<milliseconds>(std::chrono::seconds(retry_after), config_.retry_after_max);
        hold_until_ = std::max(hold_until_, Clock::now() + wait);
        LogWarning("http: {} asks to wait {} s; holding requests back for {} ms", where,
                   retry_after, wait.count());
      }
      Report(r, Outcome::kRetry, detail);
      return;
    }
    if (!r.body_start.empty()) detail += ": " + Printable(r.body_start);
    Report(r, Outcome::kRejected, detail);
  }

  HttpPublisher& owner_;
  const HttpConfig& config_;
  const CloudEventsOptions cloud_events_;
  CURLM* multi_ = nullptr;
  std::deque<std::unique_ptr<Request>> waiting_;
  std::map<Request*, std::unique_ptr<Request>> in_flight_;
  std::vector<CURL*> free_;
  Clock::time_point hold_until_{};
};

Result<std::unique_ptr<HttpPublisher>> HttpPublisher::Open(std::string_view url,
                                                           const PublisherOptions& options) {
  Result<HttpConfig> config = ParseHttpConfig(url, options);
  if (!config) return std::unexpected(config.error());
  for (const auto& [option, path] : {std::pair{"tls.ca", config->tls_ca_file},
                                     std::pair{"tls.cert", config->tls_cert_file},
                                     std::pair{"tls.key", config->tls_key_file}}) {
    if (!path.empty() && !Readable(path)) {
      return std::unexpected(
          InvalidArgument(fmt::format("http option '{}': cannot read '{}'", option, path)));
    }
  }
  GlobalInit();
  // What libcurl itself makes of the URL (with the placeholders filled in).
  CURLU* u = curl_url();
  const std::string sample = ExpandUrl(config->url_template, "topic", "key");
  const CURLUcode uc = curl_url_set(u, CURLUPART_URL, sample.c_str(), 0);
  curl_url_cleanup(u);
  if (uc != CURLUE_OK) {
    return std::unexpected(InvalidArgument(fmt::format("publisher URL '{}': {}",
                                                       config->display_url, curl_url_strerror(uc))));
  }
  std::unique_ptr<HttpPublisher> publisher(new HttpPublisher(std::move(*config)));
  publisher->worker_ = std::make_unique<Worker>(*publisher);
  if (!publisher->worker_->ok()) return std::unexpected(Internal("http: curl_multi_init failed"));
  publisher->thread_ = std::thread([p = publisher.get()] { p->worker_->Run(); });
  return publisher;
}

HttpPublisher::HttpPublisher(HttpConfig config) : config_(std::move(config)) {}

HttpPublisher::~HttpPublisher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  if (worker_ != nullptr) worker_->Wake();
  if (thread_.joinable()) thread_.join();
  worker_.reset();
}

Guarantees HttpPublisher::guarantees() const {
  return Guarantees{.keeps_key_order = false, .deduplicates_by_id = false};
}

void HttpPublisher::Publish(std::span<const Event> events, DeliveryCallback on_delivery) {
  if (events.empty()) return;
  auto call = std::make_shared<Call>(Call{events, std::move(on_delivery)});
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(call));
  }
  worker_->Wake();
}

}  // namespace herald::publish
