# Reference values for ipdmeta.meta.random_effects_glmm from metafor's rma.glmm.
#
# Run from the repository root:  Rscript tests/reference/metafor_glmm.R
# Writes tests/reference/metafor_glmm/<case>.json: the counts, and rma.glmm's estimate, SE,
# z, p, CI, prediction interval, tau2, I2, H2 and likelihood-ratio test of heterogeneity.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
source(file.path("tests", "reference", "json_writer.R"))
out_dir <- file.path("tests", "reference", "metafor_glmm")
dir.create(out_dir, showWarnings = FALSE)

# rma.glmm passes these to lme4's glmer: converged well past the tests' rtol 1e-4.
CONTROL <- list(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-12),
                tolPwrss = 1e-12)

sparse <- function() {
  set.seed(77)
  ni <- sample(5:40, 15, replace = TRUE)
  p <- plogis(rnorm(15, -2.2, 0.9))
  xi <- rbinom(15, ni, p)
  xi[3] <- 0
  xi[9] <- ni[9]  # a study where every patient had the event
  list(xi = xi, ni = ni)
}

CASES <- list(
  "pritz1997" = list(counts = list(xi = dat.pritz1997$xi, ni = dat.pritz1997$ni),
                     origin = "metafor's dat.pritz1997 (Pritz 1997): 14 case series"),
  "sparse-zeros" = list(counts = sparse(),
                        origin = "simulated in this script, set.seed(77); one study with 0 events, one with all")
)

for (id in names(CASES)) {
  case <- CASES[[id]]
  r <- rma.glmm(measure = "PLO", xi = case$counts$xi, ni = case$counts$ni, nAGQ = 7,
                control = CONTROL)
  p <- predict(r)
  res <- list(
    source = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                  lme4 = as.character(packageVersion("lme4")),
                  script = "tests/reference/metafor_glmm.R", control = CONTROL,
                  generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")),
    case = id, origin = case$origin,
    xi = I(case$counts$xi), ni = I(case$counts$ni),
    estimate = unname(r$b[1, 1]), se = r$se, zval = r$zval, pvalue = r$pval,
    ci_lower = r$ci.lb, ci_upper = r$ci.ub, pi_lower = p$pi.lb, pi_upper = p$pi.ub,
    tau2 = r$tau2, I2 = r$I2, H2 = r$H2, QE_LRT = r$QE.LRT, QE_LRT_pvalue = r$QEp.LRT,
    QE_df = r$QE.df, k = r$k
  )
  write_json_file(res, file.path(out_dir, paste0(id, ".json")))
  cat("wrote", id, "\n")
}
