// Routing of /v1/… and the one write path every edit goes through: If-Match, edit a copy,
// validate the whole model, plan, then (unless dry_run) apply to the kernel and commit.
#include "controller/api/service.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <functional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "controller/api/edits.hpp"
#include "controller/api/explain.hpp"
#include "controller/api/http.hpp"
#include "controller/api/object_status.hpp"
#include "controller/api/objects.hpp"
#include "controller/api/ports.hpp"
#include "controller/engine/plan.hpp"
#include "controller/engine/writer.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/change.hpp"
#include "controller/model/json.hpp"
#include "controller/model/validate.hpp"
#include "util/heap.hpp"

namespace natctl::api {
namespace {

using nlohmann::json;

using Args = std::vector<std::string>;

struct Method {
    std::string name;                // GET, PUT, POST, DELETE
    std::vector<std::string> query;  // accepted query parameters besides dry_run on writes
    std::function<HttpResponse(const Args&)> run;
};

struct Endpoint {
    std::vector<std::string_view> pattern;  // "*" matches one name, captured into Args
    std::vector<Method> methods;
};

std::string etag(std::uint64_t revision) {
    return fmt::format("\"{}\"", revision);
}

class Handler {
  public:
    Handler(store::Store& store, engine::Writer& writer, engine::DataPlane& data_plane,
            const HttpRequest& request, const Service::StatusSections& status_sections)
        : store_(store),
          writer_(writer),
          plane_(data_plane),
          request_(request),
          status_sections_(status_sections) {}

    HttpResponse run() {
        if (request_.body.size() > Service::kMaxBodyBytes)
            return error_response(
                failure(413, "",
                        fmt::format("the body has {} bytes, more than the limit of {}",
                                    request_.body.size(), Service::kMaxBodyBytes)));
        auto target = parse_target(request_.target);
        if (!target) return error_response(failure(400, "", target.error()));
        target_ = std::move(*target);

        for (const auto& endpoint : endpoints()) {
            Args args;
            if (!matches(endpoint.pattern, args)) continue;
            std::vector<std::string> allowed;
            for (const auto& method : endpoint.methods) {
                allowed.push_back(method.name);
                if (method.name != request_.method) continue;
                const bool write = method.name != "GET";
                for (const auto& [key, value] : target_.query)
                    if (std::find(method.query.begin(), method.query.end(), key) ==
                            method.query.end() &&
                        !(write && key == "dry_run"))
                        return error_response(
                            failure(400, "?" + key,
                                    fmt::format("unknown query parameter for {} {}",
                                                request_.method, target_.path)));
                return method.run(args);
            }
            auto response = error_response(
                failure(405, "",
                        fmt::format("method {} is not allowed on {} (allowed: {})", request_.method,
                                    target_.path, fmt::join(allowed, ", "))));
            response.headers.emplace_back("Allow", fmt::format("{}", fmt::join(allowed, ", ")));
            return response;
        }
        return error_response(failure(404, "", fmt::format("no such endpoint: {}", target_.path)));
    }

  private:
    store::Store& store_;
    engine::Writer& writer_;
    engine::DataPlane& plane_;
    const HttpRequest& request_;
    const Service::StatusSections& status_sections_;
    Target target_;

    bool matches(const std::vector<std::string_view>& pattern, Args& args) const {
        if (pattern.size() != target_.segments.size()) return false;
        for (std::size_t i = 0; i < pattern.size(); ++i) {
            if (pattern[i] == "*")
                args.push_back(target_.segments[i]);
            else if (pattern[i] != target_.segments[i])
                return false;
        }
        return true;
    }

    // ---- reads -------------------------------------------------------------------------

    HttpResponse read(const json& body) const {
        auto response = json_response(200, body);
        response.headers.emplace_back("ETag", etag(store_.revision()));
        return response;
    }

    template <class T>
    HttpResponse list(const Collection<T>& collection, const Args& args) const {
        model::Model copy = store_.current();
        auto items = collection.locate(copy, args);
        if (!items) return error_response(items.error());
        json out = json::array();
        for (const auto& item : **items)
            out.push_back(api::to_json(item));
        return read({{"items", out}});
    }

    template <class T>
    HttpResponse get(const Collection<T>& collection, const Args& args) const {
        model::Model copy = store_.current();
        auto items = collection.locate(copy, args);
        if (!items) return error_response(items.error());
        const auto& name = collection.key(args.back());
        for (const auto& item : **items)
            if (collection.name_of(item) == name) return read(api::to_json(item));
        return error_response(
            failure(404, "", fmt::format("{} {} does not exist", collection.kind, name)));
    }

    // ---- writes ------------------------------------------------------------------------

    std::expected<json, Failure> body_json() const {
        try {
            return json::parse(request_.body);
        } catch (const json::exception& error) {
            return std::unexpected(failure(400, "", error.what()));
        }
    }

    // The body of an endpoint that takes none: empty or {}.
    std::optional<Failure> no_body() const {
        if (request_.body.find_first_not_of(" \t\r\n") == std::string::npos) return std::nullopt;
        auto body = body_json();
        if (!body) return body.error();
        if (body->is_object() && body->empty()) return std::nullopt;
        return failure(400, "", "this endpoint takes no body (or {})");
    }

    // The body of POST /v1/ipv4_gateways/NAME/enable: none, {} or {"route_tables": [names]}.
    std::expected<std::vector<std::string>, Failure> activation_route_tables() const {
        if (!no_body()) return std::vector<std::string>{};
        auto body = body_json();
        if (!body) return std::unexpected(body.error());
        if (!body->is_object())
            return std::unexpected(
                failure(400, "", "expected an object {\"route_tables\": [...]}"));
        std::vector<std::string> names;
        for (const auto& [key, value] : body->items()) {
            if (key != "route_tables") return std::unexpected(failure(400, key, "unknown field"));
            if (!value.is_array())
                return std::unexpected(failure(400, key, "expected an array of route table names"));
            for (std::size_t i = 0; i < value.size(); ++i) {
                if (!value[i].is_string())
                    return std::unexpected(failure(400, fmt::format("route_tables[{}]", i),
                                                   "expected a route table name"));
                names.push_back(value[i].get<std::string>());
            }
        }
        return names;
    }

    std::optional<Failure> check_if_match() const {
        auto header = request_.headers.find("if-match");
        if (header == request_.headers.end()) return std::nullopt;
        std::string_view value = header->second;
        while (!value.empty() && value.front() == ' ')
            value.remove_prefix(1);
        while (!value.empty() && value.back() == ' ')
            value.remove_suffix(1);
        if (value == "*") return std::nullopt;
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        std::uint64_t revision = 0;
        auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), revision);
        if (error != std::errc{} || end != value.data() + value.size() || value.empty())
            return failure(
                400, "If-Match",
                fmt::format("expected a revision such as \"42\", got '{}'", header->second));
        if (revision != store_.revision())
            return failure(412, "If-Match",
                           fmt::format("revision {} is stale: the current revision is {}", revision,
                                       store_.revision()));
        return std::nullopt;
    }

    std::string author() const {
        return request_.peer_uid ? fmt::format("uid {}", *request_.peer_uid) : "uid unknown";
    }

    // If-Match and ?dry_run, checked before any write: whether it is a dry run.
    std::expected<bool, Failure> write_preconditions() const {
        if (auto refused = check_if_match()) return std::unexpected(*refused);
        return query_flag(target_, "dry_run");
    }

    // The write path of every edit: `edit` changes a copy of the current model or refuses.
    HttpResponse write(const Edit& edit, int created = 200, std::string summary = {}) {
        auto dry_run = write_preconditions();
        if (!dry_run) return error_response(dry_run.error());
        model::Model next = store_.current();
        std::vector<std::string> notes;
        if (auto refused = edit(next, notes)) return error_response(*refused);
        return write_model(std::move(next), std::move(notes), *dry_run, created,
                           std::move(summary));
    }

    // Every write ends here: the engine validates, plans, applies, commits (or puts the
    // kernel back), and this turns its outcome into the answer.
    HttpResponse write_model(model::Model next, std::vector<std::string> notes, bool dry_run,
                             int created, std::string summary) {
        return answer(writer_.write(std::move(next),
                                    write_options(dry_run, std::move(notes), std::move(summary))),
                      dry_run, created);
    }

    engine::WriteOptions write_options(bool dry_run, std::vector<std::string> notes,
                                       std::string summary) const {
        if (summary.empty()) summary = fmt::format("{} {}", request_.method, request_.target);
        return {dry_run, author(), std::move(summary), std::move(notes)};
    }

    HttpResponse answer(const engine::WriteOutcome& outcome, bool dry_run, int created) const {
        if (!outcome)
            return error_response(Failure{status_of(outcome.error().kind), outcome.error().errors});
        const auto& result = *outcome;
        json body = {{"revision", result.revision},
                     {"changed", result.changed},
                     {"plan", engine::to_json(result.plan)},
                     {"kernel", result.kernel ? kernel_json(*result.kernel) : json::object()}};
        if (dry_run) body["dry_run"] = true;
        if (!result.committed) return json_response(200, body);
        auto response = json_response(created, body);
        response.headers.emplace_back("ETag", etag(result.revision));
        return response;
    }

    // ---- the fast path for one DNAT or SNAT entry ----------------------------------------

    enum class Verb { Create, Replace, Remove };

    // write() for one DNAT or SNAT entry, in time proportional to the change: the request
    // becomes a change value (model::GatewayEntryChange) that the engine checks against an
    // index of the stored model instead of the whole model. Its answer is the one write()
    // gives. nullopt: not a request this path is sure about (any refusal or error included),
    // and write() takes it — so errors are always write()'s, whole-model validation's.
    template <class Entry>
    std::optional<HttpResponse> write_entry(Verb verb, const Args& args) {
        if (check_if_match()) return std::nullopt;
        auto dry_run = query_flag(target_, "dry_run");
        if (!dry_run || *dry_run) return std::nullopt;
        const model::Model& current = store_.current();
        const auto gateway = std::find_if(
            current.nat_gateways.begin(), current.nat_gateways.end(),
            [&](const model::NatGateway& candidate) { return candidate.name == args.front(); });
        if (gateway == current.nat_gateways.end()) return std::nullopt;
        const auto& entries = model::entries_of<Entry>(*gateway);
        model::GatewayEntryChange<Entry> change{
            static_cast<std::size_t>(gateway - current.nat_gateways.begin()), entries.size(),
            std::nullopt, std::nullopt};
        if (verb != Verb::Create) {
            // Newest entries sit at the end: searched from there.
            const auto found =
                std::find_if(entries.rbegin(), entries.rend(),
                             [&](const Entry& entry) { return entry.name == args.back(); });
            if (found == entries.rend()) return std::nullopt;
            change.position = static_cast<std::size_t>(entries.rend() - found) - 1;
            change.before = *found;
        }
        if (verb == Verb::Remove) {
            if (no_body()) return std::nullopt;
        } else {
            auto body = body_json();
            if (!body) return std::nullopt;
            auto entry = from_json<Entry>(*body);
            if (!entry) return std::nullopt;
            change.after = std::move(*entry);
        }
        auto outcome = writer_.write_change(change, write_options(false, {}, {}));
        if (!outcome) return std::nullopt;
        return answer(*outcome, false, verb == Verb::Create ? 201 : 200);
    }

    template <class T>
    std::optional<HttpResponse> write_fast(Verb verb, const Args& args) {
        if constexpr (std::is_same_v<T, model::DnatEntry> || std::is_same_v<T, model::SnatEntry>)
            return write_entry<T>(verb, args);
        return std::nullopt;
    }

    // write() for an edit that leaves every DNAT entry as it was, in time proportional to
    // the model less its DNAT entries: the edit runs on the model without them and the
    // engine judges the result (engine::Writer::write_without_dnat). nullopt: anything this
    // path is not sure about (the edit's own refusals included), and write() takes it.
    std::optional<HttpResponse> write_without_dnat(const Edit& edit, int created = 200) {
        if (check_if_match()) return std::nullopt;
        auto dry_run = query_flag(target_, "dry_run");
        if (!dry_run || *dry_run) return std::nullopt;
        auto light = model::without_dnat_entries(store_.current());
        Notes notes;
        if (edit(light, notes) || !notes.empty()) return std::nullopt;
        auto outcome = writer_.write_without_dnat(std::move(light), write_options(false, {}, {}));
        if (!outcome) return std::nullopt;
        return answer(*outcome, false, created);
    }

    // The EIP edits take the path without DNAT entries first: an EIP that DNAT entries use
    // falls through to write() (accepts_without_dnat keeps it as it is), which answers as
    // it always did.
    HttpResponse write_eip_edit(const Edit& edit, int created = 200) {
        if (auto fast = write_without_dnat(edit, created)) return std::move(*fast);
        return write(edit, created);
    }

    template <class T>
    HttpResponse write_edit(const Edit& edit, int created = 200) {
        if constexpr (std::is_same_v<T, model::Eip>) return write_eip_edit(edit, created);
        return write(edit, created);
    }

    static json kernel_json(const engine::KernelChange& change) {
        json out = change.summary.is_object() ? change.summary : json::object();
        out["changed"] = change.changed;
        return out;
    }

    template <class T>
    HttpResponse create(const Collection<T>& collection, const Args& args) {
        if (auto fast = write_fast<T>(Verb::Create, args)) return std::move(*fast);
        return write_edit<T>(
            [&](model::Model& m, Notes& notes) -> std::optional<Failure> {
                auto items = collection.locate(m, args);
                if (!items) return items.error();
                auto body = body_json();
                if (!body) return body.error();
                auto item = collection.parse(*body);
                if (!item) return Failure{400, std::move(item.error())};
                // Alibaba's CreateIpv4Gateway: created disabled, traffic untouched until
                // it is activated with the route tables to switch (POST .../enable).
                if constexpr (std::is_same_v<T, model::Ipv4Gateway>) {
                    if (!item->enabled) item->enabled = false;
                    if (item->is_enabled()) end_private_internet(m, item->vpc, notes);
                }
                const auto name = collection.name_of(*item);
                for (const auto& existing : **items)
                    if (collection.name_of(existing) == name)
                        return failure(409, "name",
                                       fmt::format("{} {} already exists", collection.kind, name));
                (*items)->push_back(std::move(*item));
                return std::nullopt;
            },
            201);
    }

    template <class T>
    HttpResponse replace(const Collection<T>& collection, const Args& args) {
        if (auto fast = write_fast<T>(Verb::Replace, args)) return std::move(*fast);
        return write_edit<T>([&](model::Model& m, Notes&) -> std::optional<Failure> {
            auto items = collection.locate(m, args);
            if (!items) return items.error();
            auto body = body_json();
            if (!body) return body.error();
            auto item = collection.parse(*body);
            if (!item) return Failure{400, std::move(item.error())};
            const auto name = collection.key(args.back());
            if (collection.name_of(*item) != name)
                return failure(400, collection.name_field,
                               fmt::format("{} in the body differs from {} in the path",
                                           collection.name_of(*item), name));
            for (auto& existing : **items)
                if (collection.name_of(existing) == name) {
                    existing = std::move(*item);
                    return std::nullopt;
                }
            return failure(404, "", fmt::format("{} {} does not exist", collection.kind, name));
        });
    }

    template <class T>
    HttpResponse remove(const Collection<T>& collection, const Args& args) {
        if (auto fast = write_fast<T>(Verb::Remove, args)) return std::move(*fast);
        return write_edit<T>([&](model::Model& m, Notes& notes) -> std::optional<Failure> {
            if (auto refused = no_body()) return refused;
            auto items = collection.locate(m, args);
            if (!items) return items.error();
            const auto name = collection.key(args.back());
            auto found = std::find_if((*items)->begin(), (*items)->end(), [&](const T& item) {
                return collection.name_of(item) == name;
            });
            if (found == (*items)->end())
                return failure(404, "", fmt::format("{} {} does not exist", collection.kind, name));
            if (collection.before_delete)
                if (auto refused = collection.before_delete(m, *found, target_, notes))
                    return refused;
            // before_delete may have edited the model, but never this collection.
            found = std::find_if((*items)->begin(), (*items)->end(),
                                 [&](const T& item) { return collection.name_of(item) == name; });
            (*items)->erase(found);
            return std::nullopt;
        });
    }

    template <class T>
    std::vector<Endpoint> crud(std::vector<std::string_view> collection_pattern,
                               const Collection<T>& collection,
                               std::vector<std::string> delete_query = {}) {
        auto object_pattern = collection_pattern;
        object_pattern.push_back("*");
        return {
            {collection_pattern,
             {{"GET", {}, [this, collection](const Args& a) { return list(collection, a); }},
              {"POST", {}, [this, collection](const Args& a) { return create(collection, a); }}}},
            {object_pattern,
             {{"GET", {}, [this, collection](const Args& a) { return get(collection, a); }},
              {"PUT", {}, [this, collection](const Args& a) { return replace(collection, a); }},
              {"DELETE", std::move(delete_query),
               [this, collection](const Args& a) { return remove(collection, a); }}}},
        };
    }

    // ---- whole model, revisions, status, explain -----------------------------------------

    HttpResponse put_config() {
        auto dry_run = write_preconditions();
        if (!dry_run) return error_response(dry_run.error());
        auto parsed = model::read_model(std::string_view(request_.body));
        if (!parsed) return error_response({400, std::move(parsed.error())});
        auto& read = *parsed;
        // A model that does not read whole is refused with every problem at once, the
        // semantic ones of what could be read included; write_model validates the rest.
        if (!read.errors.empty()) return error_response({400, model::document_errors(read)});
        return write_model(std::move(read.model), {}, *dry_run, 200, {});
    }

    HttpResponse revisions() const {
        json out = json::array();
        for (const auto& info : store_.revisions())
            out.push_back({{"revision", info.revision},
                           {"time", info.unix_time},
                           {"author", info.author},
                           {"summary", info.summary}});
        return read({{"revisions", out}});
    }

    HttpResponse rollback() {
        auto body = body_json();
        if (!body) return error_response(body.error());
        if (!body->is_object()) return error_response(failure(400, "", "expected an object"));
        for (const auto& [key, value] : body->items())
            if (key != "revision") return error_response(failure(400, key, "unknown field"));
        auto it = body->find("revision");
        if (it == body->end())
            return error_response(failure(400, "revision", "missing required field"));
        if (!it->is_number_unsigned())
            return error_response(failure(400, "revision", "expected a non-negative integer"));
        const auto wanted = it->get<std::uint64_t>();
        const auto known = store_.revisions();
        if (std::none_of(known.begin(), known.end(),
                         [&](const store::RevisionInfo& info) { return info.revision == wanted; }))
            return error_response(failure(
                404, "revision",
                fmt::format("revision {} is not kept (kept: the last {})", wanted, known.size())));
        auto target = store_.model_at(wanted);
        if (!target)
            return error_response(
                failure(500, "revision",
                        fmt::format("revision {} could not be read: {}", wanted, target.error())));
        return write(
            [&](model::Model& m, Notes&) -> std::optional<Failure> {
                m = std::move(*target);
                return std::nullopt;
            },
            200, fmt::format("rollback to {}", wanted));
    }

    HttpResponse status() const {
        json out = plane_.status();
        if (!out.is_object()) out = json::object();
        out["revision"] = store_.revision();
        for (const auto& [name, section] : status_sections_)
            out[name] = section();
        out["objects"] = object_status(store_.current(), out);
        return read(out);
    }

    HttpResponse explain_request() const {
        ExplainQuery query;
        model::Errors errors;
        auto get = [&](const char* name) -> std::optional<std::string> {
            auto it = target_.query.find(name);
            if (it != target_.query.end()) return it->second;
            errors.push_back({fmt::format("?{}", name), "missing required parameter"});
            return std::nullopt;
        };
        if (auto src = get("src")) {
            if (auto ip = model::parse_ipv4(*src))
                query.src = *ip;
            else
                errors.push_back({"?src", ip.error()});
        }
        if (auto dst = get("dst")) {
            std::string_view text = *dst;
            if (auto colon = text.find(':'); colon != std::string_view::npos) {
                unsigned port = 0;
                auto digits = text.substr(colon + 1);
                auto [end, error] =
                    std::from_chars(digits.data(), digits.data() + digits.size(), port);
                if (error != std::errc{} || end != digits.data() + digits.size() || port == 0 ||
                    port > 65535)
                    errors.push_back({"?dst", fmt::format("port '{}' is not 1-65535", digits)});
                else
                    query.port = static_cast<std::uint16_t>(port);
                text = text.substr(0, colon);
            }
            if (auto ip = model::parse_ipv4(text))
                query.dst = *ip;
            else
                errors.push_back({"?dst", ip.error()});
        }
        if (auto it = target_.query.find("proto"); it != target_.query.end()) {
            if (it->second == "tcp")
                query.protocol = Protocol::Tcp;
            else if (it->second == "udp")
                query.protocol = Protocol::Udp;
            else if (it->second == "icmp")
                query.protocol = Protocol::Icmp;
            else
                errors.push_back(
                    {"?proto",
                     fmt::format("unknown protocol '{}' (expected tcp, udp or icmp)", it->second)});
        }
        if (query.protocol == Protocol::Icmp && query.port)
            errors.push_back({"?dst", "icmp has no port"});
        if (!errors.empty()) return error_response({400, std::move(errors)});
        return read(explain(store_.current(), query));
    }

    // ---- the table -----------------------------------------------------------------------

    std::vector<Endpoint> endpoints() {
        std::vector<Endpoint> out = {
            {{"v1", "config"},
             {{"GET", {}, [this](const Args&) { return read(model::to_json(store_.current())); }},
              {"PUT", {}, [this](const Args&) { return put_config(); }}}},
            {{"v1", "revisions"}, {{"GET", {}, [this](const Args&) { return revisions(); }}}},
            {{"v1", "rollback"}, {{"POST", {}, [this](const Args&) { return rollback(); }}}},
            {{"v1", "status"}, {{"GET", {}, [this](const Args&) { return status(); }}}},
            {{"v1", "explain"},
             {{"GET", {"src", "dst", "proto"}, [this](const Args&) { return explain_request(); }}}},
            {{"v1", "limits"},
             {{"GET",
               {},
               [this](const Args&) {
                   return read(api::to_json(store_.current().effective_limits()));
               }},
              {"PUT", {}, [this](const Args&) { return write(edit_limits(body_text())); }}}},
            {{"v1", "nat_gateways", "*", "eips", "*"},
             {{"POST",
               {},
               [this](const Args& a) {
                   if (auto refused = no_body()) return error_response(*refused);
                   return write_eip_edit(associate_eip(a[0], a[1]));
               }},
              {"DELETE",
               {},
               [this](const Args& a) {
                   if (auto refused = no_body()) return error_response(*refused);
                   return write_eip_edit(disassociate_eip(a[0], a[1]));
               }}}},
            {{"v1", "ipv4_gateways", "*", "enable"},
             {{"POST",
               {},
               [this](const Args& a) {
                   auto route_tables = activation_route_tables();
                   if (!route_tables) return error_response(route_tables.error());
                   return write(enable_ipv4_gateway(a[0], true, std::move(*route_tables)));
               }}}},
            {{"v1", "ipv4_gateways", "*", "disable"},
             {{"POST",
               {},
               [this](const Args& a) {
                   if (auto refused = no_body()) return error_response(*refused);
                   return write(enable_ipv4_gateway(a[0], false));
               }}}},
        };
        auto add = [&](std::vector<Endpoint> more) {
            for (auto& endpoint : more)
                out.push_back(std::move(endpoint));
        };
        add(crud({"v1", "vpcs"}, vpcs()));
        add(crud({"v1", "vpcs", "*", "vswitches"}, vswitches()));
        add(crud({"v1", "vpcs", "*", "instances"}, instances()));
        add(crud({"v1", "vpcs", "*", "route_tables"}, route_tables()));
        add(crud({"v1", "vpcs", "*", "route_tables", "*", "routes"}, routes()));
        add(crud({"v1", "eips"}, eips()));
        add(crud({"v1", "nat_gateways"}, nat_gateways(), {"force"}));
        add(crud({"v1", "nat_gateways", "*", "snat_entries"}, snat_entries()));
        add(crud({"v1", "nat_gateways", "*", "dnat_entries"}, dnat_entries()));
        add(crud({"v1", "ipv4_gateways"}, ipv4_gateways(), {"mode"}));
        return out;
    }

    const std::string& body_text() const { return request_.body; }
};

}  // namespace

void Service::answered() {
    writer_.answered();
}

HttpResponse Service::handle(const HttpRequest& request) {
    answered();
    // Nothing here is expected to throw (errors travel as values), but the server must answer
    // every request: a library exception (allocation, JSON) becomes a 500, not a dead
    // connection.
    try {
        if (auto answered =
                handle_conntrack_request(request, store_.current(), conntrack_, budget_counts_))
            return *answered;
        for (const auto& extension : extensions_)
            if (auto answered = extension(request)) return *answered;
        auto response = Handler(store_, writer_, data_plane_, request, status_sections_).run();
        // A large document (a 100k-entry PUT: its text, JSON tree and model copies, well
        // over 100 MiB at the peak) is freed by now; give the pages back instead of keeping
        // the peak resident.
        util::release_heap_after(request.body.size());
        return response;
    } catch (const std::exception& error) {
        return error_response(failure(500, "", fmt::format("internal error: {}", error.what())));
    }
}

}  // namespace natctl::api
