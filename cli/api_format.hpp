// What natctl prints about the daemon's answers: plans, revisions and refusals. Pure, so
// that the wording scripts and people rely on is pinned by unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::cli {

// "path: reason" per error; a document-level error (no path) as "(document): reason".
std::vector<std::string> error_lines(const model::Errors& errors);

// The reasons of a refused request from its JSON body ({"errors": [{"path", "reason"}]});
// a body that is not in that form still yields one line naming the HTTP status, so that a
// refusal is never silent.
std::vector<std::string> answer_error_lines(unsigned status, std::string_view body);

// The plan of a successful write ({"revision", "changed", "plan": {"added", "changed",
// "removed"}}) for people:
//   + dnat_entry web (nat_gateways[0].dnat_entries[0])
//   ~ nat_gateway ngw-1 (nat_gateways[0])
//   - snat_entry old (nat_gateways[0].snat_entries[2])
//   note: forced: eips eip-1 disassociated from nat gateway ngw-1
//   revision 8
// "no changes (revision N)" when nothing changed; a dry run says that nothing was applied
// and names the current revision (a dry run creates none).
std::string format_write_result(const nlohmann::json& answer, bool dry_run);

// GET /v1/status for people: one "key  value" line per field, nested objects flattened
// ("reconcile state  in_sync"), the documented fields first, booleans as yes / no.
std::string format_status(const nlohmann::json& status);
// The eip_traffic rows of GET /v1/ports and /v1/status as a table under a heading (empty
// when there are none).
std::string format_eip_traffic(const nlohmann::json& rows);

// GET /v1/explain for people: the decision fields, then the numbered steps.
std::string format_explain(const nlohmann::json& explanation);

// GET /v1/revisions for people: a table, the current revision marked.
std::string format_revisions(const nlohmann::json& revisions);

// The revision in an ETag / If-Match value: "42" (quoted) or 42.
std::optional<std::uint64_t> revision_of_etag(std::string_view etag);

// The message for 412: someone else changed the model between our read and our write.
std::string stale_revision_message(std::string_view if_match);

// Percent-encoding of one path segment or query value: names are free text in the model,
// and a '/' or '?' in one must not change which endpoint is addressed.
std::string url_encode(std::string_view text);

}  // namespace natctl::cli
