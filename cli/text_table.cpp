#include "cli/text_table.hpp"

#include <algorithm>

namespace natctl::cli {

namespace {

const std::string& cell(const std::vector<std::string>& row, std::size_t column) {
    static const std::string missing = "-";
    return column < row.size() && !row[column].empty() ? row[column] : missing;
}

void append_line(std::string& out, const std::vector<std::string>& row,
                 const std::vector<std::size_t>& widths) {
    std::string line;
    for (std::size_t column = 0; column < widths.size(); ++column) {
        const std::string& text = cell(row, column);
        line += text;
        if (column + 1 < widths.size()) line.append(widths[column] - text.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ')
        line.pop_back();
    out += line;
    out += '\n';
}

}  // namespace

std::string TextTable::render() const {
    std::vector<std::size_t> widths(header_.size(), 0);
    for (std::size_t column = 0; column < widths.size(); ++column) {
        widths[column] = cell(header_, column).size();
        for (const auto& row : rows_)
            widths[column] = std::max(widths[column], cell(row, column).size());
    }
    std::string out;
    append_line(out, header_, widths);
    for (const auto& row : rows_)
        append_line(out, row, widths);
    return out;
}

std::string render_pairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::size_t width = 0;
    for (const auto& [key, value] : pairs)
        width = std::max(width, key.size());
    std::string out;
    for (const auto& [key, value] : pairs) {
        out += key;
        out.append(width - key.size() + 2, ' ');
        out += value.empty() ? "-" : value;
        out += '\n';
    }
    return out;
}

}  // namespace natctl::cli
