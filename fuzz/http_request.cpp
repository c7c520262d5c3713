// libFuzzer target: the API's request handling as natctld runs it — bytes off the socket
// into beast's request parser with the API's limits, the same conversion to an
// api::HttpRequest (controller/daemon/http_request.hpp), then api::Service::handle over a
// real file store (on tmpfs) and the reconciler-backed data plane driving the in-memory
// nft and route fakes. An input may hold several pipelined requests (a PUT, then edits), so
// that the fuzzer reaches the paths that need a model in place.
//
// Oracles: every answer is a status 200-599 with a JSON body; the fake kernel stays what the
// store says: after every write, accepted, refused or a dry run, a reconcile of the stored
// model changes nothing. The data plane starts as natctld's does, reconciled to the store's
// revision before the first request (without that, a dry run on a fresh store would leave
// the fake kernel as empty as before, which no running natctld ever has).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/asio/buffer.hpp>
#include <nlohmann/json.hpp>

#include "controller/api/service.hpp"
#include "controller/daemon/data_plane.hpp"
#include "controller/daemon/http_request.hpp"
#include "controller/store/store.hpp"
#include "fuzz/check.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"

namespace {

namespace api = natctl::api;
namespace daemon = natctl::daemon;
namespace fs = std::filesystem;
using natctl::fuzz::check;

constexpr std::size_t kMaxRequests = 8;

const fs::path& state_dir() {
    static const fs::path dir = fs::path(fs::exists("/dev/shm") ? "/dev/shm" : "/tmp") /
                                ("natctl-fuzz-http-" + std::to_string(::getpid()));
    return dir;
}

void check_answer(const api::HttpResponse& response) {
    check(response.status >= 200 && response.status <= 599, "status outside 200-599");
    if (response.body.empty()) return;
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    check(!body.is_discarded(), "an answer whose body is not JSON");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    std::atexit([] {
        std::error_code error;
        fs::remove_all(state_dir(), error);
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::error_code ignored;
    fs::remove_all(state_dir(), ignored);
    auto store = natctl::store::Store::open(state_dir());
    check(store.has_value(), "an empty state directory does not open");
    natctl::netlink::NftFake nft;
    natctl::netlink::RouteFake routes({"veth-vpc", "veth-wan", "eth0", "eth1"});
    daemon::ReconcilerDataPlane plane(nft, routes, nullptr, {std::nullopt, "not probed"},
                                      [] { return std::time_t{1700000000}; });
    auto startup = plane.reconcile((*store)->current(), daemon::ReconcileCause::Startup);
    check(startup.has_value(), "the empty model does not reconcile at start-up");
    api::Service service(**store, plane);

    auto input = boost::asio::const_buffer(data, size);
    for (std::size_t n = 0; n < kMaxRequests && input.size() > 0; ++n) {
        daemon::HttpRequestParser parser;
        daemon::limit_request_parser(parser);
        parser.eager(true);
        boost::system::error_code error;
        while (!parser.is_done() && input.size() > 0) {
            const std::size_t used = parser.put(input, error);
            input += used;
            if (error == boost::beast::http::error::need_more) {
                if (input.size() == 0) break;
                error = {};
                if (used == 0) break;
                continue;
            }
            if (error) break;
        }
        if (!parser.is_done() && !error) parser.put_eof(error);
        if (error || !parser.is_done()) break;
        auto request = daemon::to_api_request(parser.get(), std::uint32_t{0});
        const auto response = service.handle(request);
        service.answered();
        check_answer(response);
        if (request.method != "GET") {
            auto again = plane.reconcile((*store)->current(), daemon::ReconcileCause::Resync);
            check(again.has_value(), "the stored model no longer reconciles");
            check(!again->changed, "the fake kernel drifted from the stored model");
        }
    }
    return 0;
}
