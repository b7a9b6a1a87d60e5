#include "attnd/core/hungarian.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnd/core/error.h"

namespace attnd {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Assigns every row of an n×m matrix (n ≤ m) to a distinct column. Rows are added one at a time;
// each addition is a Dijkstra search for the cheapest alternating path from the new row to a free
// column, on reduced costs c(i, j) − u(i) − v(j) that the potentials u, v keep non-negative, so the
// partial assignment stays optimal after every step (the dual stays feasible, complementary
// slackness holds on matched pairs). Column 0 is a virtual start that holds the row being added.
// Returns, for each row, its column.
std::vector<int64_t> assign_rows(const double* cost, int64_t n, int64_t m) {
  auto c = [&](int64_t row, int64_t col) { return cost[(row - 1) * m + (col - 1)]; };
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0);
  std::vector<int64_t> row_of_col(m + 1, 0);  // 0: column free (rows and columns are 1-based here)
  std::vector<int64_t> previous_col(m + 1, 0);  // the path back to the start, column by column
  std::vector<double> best_reduced(m + 1);      // cheapest reduced cost reaching each column so far
  std::vector<char> reached(m + 1);

  for (int64_t new_row = 1; new_row <= n; ++new_row) {
    row_of_col[0] = new_row;
    std::fill(best_reduced.begin(), best_reduced.end(), kInf);
    std::fill(reached.begin(), reached.end(), 0);
    int64_t col = 0;
    do {
      reached[col] = 1;
      const int64_t row = row_of_col[col];
      double step = kInf;
      int64_t next_col = -1;
      for (int64_t j = 1; j <= m; ++j) {
        if (reached[j]) continue;
        const double reduced = c(row, j) - u[row] - v[j];
        if (reduced < best_reduced[j]) {
          best_reduced[j] = reduced;
          previous_col[j] = col;
        }
        if (best_reduced[j] < step) {
          step = best_reduced[j];
          next_col = j;
        }
      }
      if (next_col < 0)
        throw_error("min_cost_assignment: the forbidden (+inf) pairs leave no complete assignment");
      // Move the potentials by the step: reduced costs on the search tree stay 0, the others drop.
      for (int64_t j = 0; j <= m; ++j) {
        if (reached[j]) {
          u[row_of_col[j]] += step;
          v[j] -= step;
        } else {
          best_reduced[j] -= step;
        }
      }
      col = next_col;
    } while (row_of_col[col] != 0);
    // Flip the path: every column on it takes the row of the column before it.
    while (col != 0) {
      const int64_t before = previous_col[col];
      row_of_col[col] = row_of_col[before];
      col = before;
    }
  }
  std::vector<int64_t> col_of_row(n, -1);
  for (int64_t j = 1; j <= m; ++j)
    if (row_of_col[j] != 0) col_of_row[row_of_col[j] - 1] = j - 1;
  return col_of_row;
}

}  // namespace

std::vector<MatchedPair> min_cost_assignment(const double* cost, int64_t rows, int64_t cols) {
  ATTND_CHECK(rows >= 0 && cols >= 0, "rows ", rows, ", cols ", cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double x = cost[r * cols + c];
      if (std::isnan(x) || x == -kInf)
        throw_error("min_cost_assignment: cost[", r, "][", c, "] is ",
                    std::isnan(x) ? "NaN" : "-inf",
                    " (a cost must be a number or +inf for a forbidden pair)");
    }
  std::vector<MatchedPair> pairs;
  if (rows == 0 || cols == 0) return pairs;
  if (rows <= cols) {
    const auto col_of_row = assign_rows(cost, rows, cols);
    for (int64_t r = 0; r < rows; ++r) pairs.push_back({r, col_of_row[r]});
    return pairs;
  }
  // More rows than columns: assign every column to a row on the transpose.
  std::vector<double> transposed(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) transposed[c * rows + r] = cost[r * cols + c];
  const auto row_of_col = assign_rows(transposed.data(), cols, rows);
  for (int64_t c = 0; c < cols; ++c) pairs.push_back({row_of_col[c], c});
  std::sort(pairs.begin(), pairs.end(),
            [](const MatchedPair& a, const MatchedPair& b) { return a.row < b.row; });
  return pairs;
}

std::vector<MatchedPair> min_cost_assignment(const std::vector<double>& cost, int64_t rows,
                                             int64_t cols) {
  ATTND_CHECK(static_cast<int64_t>(cost.size()) == rows * cols, "cost has ", cost.size(),
              " values, expected ", rows, "×", cols);
  return min_cost_assignment(cost.data(), rows, cols);
}

double assignment_cost(const double* cost, int64_t cols, const std::vector<MatchedPair>& pairs) {
  double total = 0;
  for (const auto& p : pairs) total += cost[p.row * cols + p.col];
  return total;
}

}  // namespace attnd
