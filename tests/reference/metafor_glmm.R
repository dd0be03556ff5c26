# Reference values for ipdmeta.meta.random_effects_glmm from metafor's rma.glmm.
#
# Run from the repository root:  Rscript tests/reference/metafor_glmm.R
# Writes tests/reference/metafor_glmm/<case>.json: the counts, and rma.glmm's estimate, SE,
# z, p, CI, prediction interval, tau2, I2, H2 and the Wald and likelihood-ratio tests of
# heterogeneity. Measures: "PLO" (single proportions, the binomial-normal model) and "OR"
# (two groups, the unconditional model with fixed study effects, model = "UM.FS").

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
source(file.path("tests", "reference", "json_writer.R"))
out_dir <- file.path("tests", "reference", "metafor_glmm")
dir.create(out_dir, showWarnings = FALSE)

# rma.glmm passes glmerCtrl to lme4's glmerControl: converged well past the tests' rtol
# 1e-4 (rma.glmm's own optimizer settings are for its other models; glmer's defaults stop
# early: on dat.nielweise2007 they leave the log odds ratio 3e-4 from the optimum). A
# PIRLS tolerance of 1e-12 fails on dat.bcg's arms of 87,000 (step-halvings cannot reduce
# the deviance further); 1e-10 converges. The saturated and common-effect glm fits behind
# the heterogeneity tests get a tight epsilon.
CONTROL <- list(glmerCtrl = list(optimizer = "bobyqa",
                                 optCtrl = list(maxfun = 1e5, rhoend = 1e-12),
                                 tolPwrss = 1e-10),
                glmCtrl = list(epsilon = 1e-12, maxit = 1000))

sparse <- function() {
  set.seed(77)
  ni <- sample(5:40, 15, replace = TRUE)
  p <- plogis(rnorm(15, -2.2, 0.9))
  xi <- rbinom(15, ni, p)
  xi[3] <- 0
  xi[9] <- ni[9]  # a study where every patient had the event
  list(xi = xi, ni = ni)
}

# Two-arm trials of 20 to 80 patients per arm with rare events: zero cells, and one trial
# with no events in either arm, which rma.glmm leaves out (drop00).
sparse_trials <- function() {
  set.seed(91)
  k <- 12
  n1i <- sample(20:80, k, replace = TRUE)
  n2i <- sample(20:80, k, replace = TRUE)
  study <- rnorm(k, -2.5, 0.6)
  effect <- rnorm(k, -0.5, 0.4)
  ai <- rbinom(k, n1i, plogis(study + effect / 2))
  ci <- rbinom(k, n2i, plogis(study - effect / 2))
  ai[4] <- 0
  ci[4] <- 0
  ai[7] <- 0
  list(ai = ai, n1i = n1i, ci = ci, n2i = n2i)
}

bcg <- dat.bcg
CASES <- list(
  "pritz1997" = list(measure = "PLO",
                     counts = list(xi = dat.pritz1997$xi, ni = dat.pritz1997$ni),
                     origin = "metafor's dat.pritz1997 (Pritz 1997): 14 case series"),
  "sparse-zeros" = list(measure = "PLO", counts = sparse(),
                        origin = "simulated in this script, set.seed(77); one study with 0 events, one with all"),
  "bcg-or" = list(measure = "OR",
                  counts = list(ai = bcg$tpos, n1i = bcg$tpos + bcg$tneg, ci = bcg$cpos,
                                n2i = bcg$cpos + bcg$cneg),
                  origin = "metafor's dat.bcg (Colditz et al. 1994): 13 BCG vaccine trials"),
  "nielweise2007-or" = list(measure = "OR",
                            counts = list(ai = dat.nielweise2007$ai, n1i = dat.nielweise2007$n1i,
                                          ci = dat.nielweise2007$ci, n2i = dat.nielweise2007$n2i),
                            origin = paste("metafor's dat.nielweise2007 (Niel-Weise et al. 2007):",
                                           "18 catheter trials, zero cells and one trial with no events")),
  "sparse-trials-or" = list(measure = "OR", counts = sparse_trials(),
                            origin = "simulated in this script, set.seed(91); zero cells and a trial with no events")
)

fit_case <- function(case) {
  c <- case$counts
  if (case$measure == "PLO") {
    return(rma.glmm(measure = "PLO", xi = c$xi, ni = c$ni, nAGQ = 7, control = CONTROL))
  }
  rma.glmm(measure = "OR", ai = c$ai, n1i = c$n1i, ci = c$ci, n2i = c$n2i, model = "UM.FS",
           nAGQ = 7, control = CONTROL)
}

for (id in names(CASES)) {
  case <- CASES[[id]]
  r <- fit_case(case)
  p <- predict(r)
  zero_cells <- if (case$measure == "OR") {
    any(with(case$counts, (ai == 0 | ci == 0 | ai == n1i | ci == n2i) &
                          !((ai == 0 & ci == 0) | (ai == n1i & ci == n2i))))
  } else {
    any(with(case$counts, xi == 0 | xi == ni))
  }
  res <- list(
    source = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                  lme4 = as.character(packageVersion("lme4")),
                  script = "tests/reference/metafor_glmm.R", control = CONTROL,
                  generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")),
    case = id, measure = case$measure, origin = case$origin,
    counts = lapply(case$counts, I),
    estimate = unname(r$b[1, 1]), se = r$se, zval = r$zval, pvalue = r$pval,
    ci_lower = r$ci.lb, ci_upper = r$ci.ub, pi_lower = p$pi.lb, pi_upper = p$pi.ub,
    tau2 = r$tau2, I2 = r$I2, H2 = r$H2, QE_LRT = r$QE.LRT, QE_LRT_pvalue = r$QEp.LRT,
    # With a zero cell the saturated glm's estimates run off to infinity and its Wald
    # statistic is wherever glm stopped: not a reference.
    QE_Wld = if (zero_cells) NULL else r$QE.Wld,
    QE_df = r$QE.df, k = r$k
  )
  write_json_file(res, file.path(out_dir, paste0(id, ".json")))
  cat("wrote", id, "\n")
}
