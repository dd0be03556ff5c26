# Reference values for ipdmeta.mixed._tukey (the studentized range's upper tail, which
# emmeans' Tukey adjustment takes from R's ptukey).
#
# Run from the repository root:
#
#     Rscript tests/reference/ptukey_reference.R
#
# Writes tests/reference/tukey/ptukey.json: a "source" block and, for every k, df and q of
# the grid below, ptukey(q, k, df, lower.tail = FALSE). df = Inf is emmeans' asymptotic
# test; df 30000 and 1e6 are past R's switch to the df = Inf formula (df > 25000).

suppressPackageStartupMessages(library(jsonlite))
source(file.path("tests", "reference", "json_writer.R"))

K <- c(2, 3, 4, 6, 10, 20)
DF <- c(0.7, 1, 2.5, 5, 12.3, 30, 100, 1000, 30000, 1e6, Inf)
Q <- c(0.01, 0.3, 1, 2, 3, 3.5, 4, 5, 7, 10, 15)

grid <- expand.grid(q = Q, df = DF, k = K)
grid$sf <- mapply(function(q, k, df) ptukey(q, k, df = df, lower.tail = FALSE),
                  grid$q, grid$k, grid$df)

out <- list(
  source = list(
    R = R.version.string,
    call = "ptukey(q, nmeans = k, df = df, lower.tail = FALSE)"
  ),
  grid = list(k = K, df = DF, q = Q),
  values = grid
)
writeLines(to_json(out), file.path("tests", "reference", "tukey", "ptukey.json"))
