# Reference values from R's metafor for the edge cases of ipdmeta.meta: missing values,
# sampling variances of 0, a likelihood with more than one maximum, leave-one-out with
# k = 2 under Knapp-Hartung, permutation tests with an infinite statistic, trim-and-fill
# with all effects equal. Checked by tests/meta/test_edge_cases.py.
#
# Run from the repository root:
#
#     Rscript tests/reference/metafor_edge_cases.R
#
# Writes JSON files into tests/reference/metafor_edge/ (one per edge case; the "source"
# block of each gives the R and metafor versions, the date and the control settings).
# Numbers are written by tests/reference/json_writer.R with sprintf("%.17g"), so they read
# back as the same doubles; Inf/-Inf/NaN are strings and NA is null.
#
# Published data (from metadat, loaded with metafor):
#   bcg      dat.bcg: Colditz GA, Brewer TF, Berkey CS, et al. (1994). Efficacy of BCG
#            vaccine in the prevention of tuberculosis: meta-analysis of the published
#            literature. JAMA 271(9):698-702. (log risk ratios; moderator `ablat`)
#   li2007   dat.li2007: Li J, Zhang Q, Zhang M, Egger M (2007). Intravenous magnesium for
#            acute myocardial infarction. Cochrane Database Syst Rev 2:CD002755.
#            (log odds ratios; escalc's default 1/2 added to zero cells)
# Where values of bcg are deleted (NA) or set to 0 to make an edge case, the JSON says which;
# those are MADE-UP modifications of published data. Data sets marked made_up are MADE-UP
# numbers, not data.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

root <- getwd()
if (!dir.exists(file.path(root, "tests", "reference"))) {
  stop("run from the repository root: Rscript tests/reference/metafor_edge_cases.R")
}
source(file.path(root, "tests", "reference", "json_writer.R"))
out_dir <- file.path(root, "tests", "reference", "metafor_edge")
dir.create(out_dir, showWarnings = FALSE)

# As tests/reference/metafor_reference.R: Fisher scoring and uniroot far tighter than the
# tests' relative tolerance of 1e-6.
RMA_CONTROL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
METHODS <- c("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS <- c("z", "knha")

source_block <- function(what) {
  list(
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    metadat = as.character(packageVersion("metadat")),
    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
    script = "tests/reference/metafor_edge_cases.R",
    rma_control = RMA_CONTROL,
    what = what
  )
}

write_out <- function(obj, name) {
  path <- file.path(out_dir, name)
  write_json_file(obj, path)
  cat("wrote", path, "\n")
}

# Run expr and keep its value, its warnings and its error message (value NULL then).
catching <- function(expr) {
  warns <- character(0)
  err <- NULL
  value <- tryCatch(
    withCallingHandlers(expr, warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    }),
    error = function(e) {
      err <<- conditionMessage(e)
      NULL
    }
  )
  list(value = value, warnings = I(warns), error = err)
}

num <- function(x) I(as.vector(unname(x)))

rma_numbers <- function(res) {
  pr <- predict(res)
  fe <- res$method %in% c("FE", "EE", "CE")
  list(
    estimate = c(res$beta)[1], se = res$se[1], statistic = res$zval[1], pvalue = res$pval[1],
    ci_lower = res$ci.lb[1], ci_upper = res$ci.ub[1],
    pi_lower = if (fe) pr$ci.lb[1] else pr$pi.lb[1],
    pi_upper = if (fe) pr$ci.ub[1] else pr$pi.ub[1],
    tau2 = res$tau2, I2 = res$I2, H2 = res$H2, Q = res$QE, Q_df = res$k - res$p,
    Q_pvalue = res$QEp, k = res$k
  )
}

coef_numbers <- function(res) {
  list(
    terms = I(rownames(res$beta)), estimate = num(res$beta), se = num(res$se),
    statistic = num(res$zval), pvalue = num(res$pval), ci_lower = num(res$ci.lb),
    ci_upper = num(res$ci.ub), tau2 = res$tau2, I2 = res$I2, H2 = res$H2, R2 = res$R2,
    QM = res$QM, QM_df = res$QMdf[1], QM_pvalue = res$QMp, QE = res$QE,
    QE_df = res$k - res$p, QE_pvalue = res$QEp, k = res$k
  )
}

bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg_labels <- paste(bcg$author, bcg$year)
bcg_citation <- paste("dat.bcg: Colditz GA et al. (1994). Efficacy of BCG vaccine in the",
                      "prevention of tuberculosis. JAMA 271(9):698-702.")

# ---------------------------------------------------------------- 5a. missing values
# bcg with three values deleted: yi of trial 3, vi of trial 7, ablat of trial 10.
na_yi <- bcg$yi
na_yi[3] <- NA
na_vi <- bcg$vi
na_vi[7] <- NA
na_ablat <- bcg$ablat
na_ablat[10] <- NA

missing_cases <- list()
for (m in METHODS) for (t in TESTS) {
  f <- catching(rma(na_yi, na_vi, method = m, test = t, control = RMA_CONTROL))
  missing_cases[[length(missing_cases) + 1]] <- c(
    list(id = paste("re", m, t, sep = "-"), model = "random_effects", method = m, test = t),
    rma_numbers(f$value),
    list(not_na = I(f$value$not.na), warnings = f$warnings)
  )
  f <- catching(rma(na_yi, na_vi, mods = ~na_ablat, method = m, test = t,
                    control = RMA_CONTROL))
  missing_cases[[length(missing_cases) + 1]] <- c(
    list(id = paste("mr", m, t, sep = "-"), model = "meta_regression", method = m, test = t),
    coef_numbers(f$value),
    list(not_na = I(f$value$not.na), warnings = f$warnings)
  )
}
# leave1out() on the model fitted without the omitted studies: one row per fitted study
l1o <- list()
for (m in c("REML", "DL")) for (t in TESTS) {
  res <- suppressWarnings(rma(na_yi, na_vi, method = m, test = t, control = RMA_CONTROL))
  l <- as.data.frame(leave1out(res))
  l1o[[length(l1o) + 1]] <- list(
    id = paste("l1o", m, t, sep = "-"), method = m, test = t,
    estimate = num(l$estimate), se = num(l$se), tau2 = num(l$tau2), Q = num(l$Q)
  )
}
old <- options(na.action = "na.fail")
fail_re <- catching(rma(na_yi, na_vi))
fail_mr <- catching(rma(bcg$yi, bcg$vi, mods = ~na_ablat))
options(old)
write_out(list(
  source = source_block(paste(
    "rma() with NA in yi (trial 3), vi (trial 7) and the moderator ablat (trial 10):",
    "metafor's default na.action na.omit drops the study with the warning below; with",
    "options(na.action = 'na.fail') it stops. rma() in 3.8.1 has no na.action argument.")),
  data = list(
    yi = num(na_yi), vi = num(na_vi), ablat = num(na_ablat), labels = I(bcg_labels),
    citation = bcg_citation,
    modification = "MADE-UP: yi of trial 3, vi of trial 7 and ablat of trial 10 set to NA"
  ),
  cases = missing_cases,
  leave1out = l1o,
  na_fail = list(random_effects = fail_re$error, meta_regression = fail_mr$error)
), "missing_values.json")

# ---------------------------------------------------------------- 5b. vi = 0
# bcg with the sampling variance of trial 3 set to 0 (one zero), and of trials 3 and 9
# (two zeros); meta-regression on ablat with the one zero.
vi_one <- bcg$vi
vi_one[3] <- 0
vi_two <- vi_one
vi_two[9] <- 0
zero_cases <- list()
for (ds in c("one", "two", "mods")) for (m in METHODS) for (t in TESTS) {
  v <- if (ds == "two") vi_two else vi_one
  f <- if (ds == "mods") {
    catching(rma(bcg$yi, v, mods = ~bcg$ablat, method = m, test = t, control = RMA_CONTROL))
  } else {
    catching(rma(bcg$yi, v, method = m, test = t, control = RMA_CONTROL))
  }
  numbers <- if (is.null(f$value)) list() else if (ds == "mods") {
    coef_numbers(f$value)
  } else {
    rma_numbers(f$value)
  }
  zero_cases[[length(zero_cases) + 1]] <- c(
    list(id = paste(ds, m, t, sep = "-"), data = ds, method = m, test = t),
    numbers,
    list(error = f$error, warnings = f$warnings)
  )
}
conf <- catching(confint(suppressWarnings(rma(bcg$yi, vi_one, control = RMA_CONTROL))))
# the diagnostics of the REML model with one zero: leave1out(), influence(), regtest()
zero_diag <- list()
for (t in TESTS) {
  res <- suppressWarnings(rma(bcg$yi, vi_one, test = t, control = RMA_CONTROL))
  l <- suppressWarnings(as.data.frame(leave1out(res)))
  inf <- suppressWarnings(influence(res))
  eg <- suppressWarnings(regtest(res))
  zero_diag[[length(zero_diag) + 1]] <- list(
    id = paste("REML", t, sep = "-"), method = "REML", test = t,
    leave1out = list(estimate = num(l$estimate), se = num(l$se), tau2 = num(l$tau2),
                     Q = num(l$Q)),
    influence = list(
      rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
      cooks_distance = num(inf$inf$cook.d), cov_ratio = num(inf$inf$cov.r),
      tau2_deleted = num(inf$inf$tau2.del), QE_deleted = num(inf$inf$QE.del),
      hat = num(inf$inf$hat), weight = num(inf$inf$weight)
    ),
    regtest = list(statistic = eg$zval, pvalue = eg$pval, limit_estimate = c(eg$est))
  )
}
write_out(list(
  source = source_block(paste(
    "rma() with a sampling variance of 0: HE, SJ, ML, REML and EB fit (without metafor's",
    "ll0check, and with QE, I2, H2 NA); FE, DL, HS and PM stop with the errors below.",
    "confint() refuses the Q-profile interval.")),
  data = list(
    yi = num(bcg$yi), vi_one = num(vi_one), vi_two = num(vi_two), ablat = num(bcg$ablat),
    labels = I(bcg_labels), citation = bcg_citation,
    modification = "MADE-UP: vi of trial 3 (vi_one), of trials 3 and 9 (vi_two) set to 0"
  ),
  cases = zero_cases,
  diagnostics = zero_diag,
  confint_error = conf$error
), "zero_vi.json")

# ---------------------------------------------------------------- 6a. ML global maximum
li2007 <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
sei <- sqrt(li2007$vi)

# The ML log-likelihood over a grid of tau2 (each point a fit with tau2 fixed), then the
# best grid point refined by optimize(): the global maximum, independently of scoring.
profile_max <- function(yi, vi, mods, upper) {
  ll <- function(t2) {
    if (is.null(mods)) {
      c(logLik(rma(yi, vi, tau2 = t2, method = "ML")))
    } else {
      c(logLik(rma(yi, vi, mods = mods, tau2 = t2, method = "ML")))
    }
  }
  grid <- c(0, exp(seq(log(upper * 1e-8), log(upper), length.out = 400)))
  lls <- vapply(grid, ll, 0)
  i <- which.max(lls)
  lo <- grid[max(1, i - 1)]
  hi <- grid[min(length(grid), i + 1)]
  opt <- optimize(ll, c(lo, hi), maximum = TRUE, tol = 1e-14)
  list(tau2 = opt$maximum, loglik = opt$objective, loglik_at_0 = ll(0),
       grid_argmax = grid[i])
}

ml_fit <- function(yi, vi, mods, test, init = NULL) {
  ctl <- if (is.null(init)) RMA_CONTROL else c(RMA_CONTROL, list(tau2.init = init))
  if (is.null(mods)) {
    catching(rma(yi, vi, method = "ML", test = test, control = ctl))
  } else {
    catching(rma(yi, vi, mods = mods, method = "ML", test = test, control = ctl))
  }
}

bimodal_yi <- c(0.01, -0.01, 0.005, 0, -0.005, 5, -5, 5)
bimodal_vi <- c(rep(0.001, 5), 1, 1, 1)
bimodal_x <- 0:7

ml_cases <- list()
for (ds in c("li2007_sei", "bimodal", "bimodal_x")) {
  yi <- if (ds == "li2007_sei") li2007$yi else bimodal_yi
  vi <- if (ds == "li2007_sei") li2007$vi else bimodal_vi
  mods <- switch(ds, li2007_sei = ~sei, bimodal = NULL, bimodal_x = ~bimodal_x)
  prof <- profile_max(yi, vi, mods, upper = 100)
  for (t in TESTS) {
    default <- ml_fit(yi, vi, mods, t)
    # scoring started next to the global maximum: metafor's own numbers there
    global <- ml_fit(yi, vi, mods, t, init = prof$tau2)
    ml_cases[[length(ml_cases) + 1]] <- list(
      id = paste(ds, t, sep = "-"), data = ds, test = t,
      default = list(tau2 = default$value$tau2, loglik = c(logLik(default$value)),
                     warnings = default$warnings),
      global = c(coef_numbers(global$value), list(loglik = c(logLik(global$value)),
                                                   warnings = global$warnings)),
      profile = prof
    )
  }
}
write_out(list(
  source = source_block(paste(
    "rma(method = 'ML'): 'default' is metafor's fit (Fisher scoring from the HE value,",
    "then ll0check); 'global' the same model with control tau2.init at the global",
    "maximum of the log-likelihood, which 'profile' finds over a grid of fixed tau2",
    "(400 points log-spaced to 100, plus 0) refined by optimize(). For li2007 with",
    "mods = ~sei (regtest()'s model) metafor stops at tau2 = 0, a local maximum only.")),
  data = list(
    li2007_sei = list(yi = num(li2007$yi), vi = num(li2007$vi), sei = num(sei),
                      labels = I(paste(li2007$study, li2007$year)),
                      citation = paste("dat.li2007: Li J, Zhang Q, Zhang M, Egger M (2007).",
                                       "Intravenous magnesium for acute myocardial infarction.",
                                       "Cochrane Database Syst Rev 2:CD002755."),
                      made_up = FALSE),
    bimodal = list(yi = num(bimodal_yi), vi = num(bimodal_vi),
                   citation = paste("MADE UP (not data): five precise studies that agree and",
                                    "three imprecise ones far apart, so that the ML",
                                    "likelihood has a local maximum at 0 and a higher one",
                                    "inside; both HE and DL start right of the latter"),
                   made_up = TRUE),
    bimodal_x = list(yi = num(bimodal_yi), vi = num(bimodal_vi), x = num(bimodal_x),
                     citation = "MADE UP (not data): bimodal with the moderator x = 0..7",
                     made_up = TRUE)
  ),
  cases = ml_cases
), "ml_global.json")

# ---------------------------------------------------------------- 6b. k = 2, Knapp-Hartung
k2_cases <- list()
for (m in METHODS) {
  res <- suppressWarnings(rma(bcg$yi[4:5], bcg$vi[4:5], method = m, test = "knha",
                              control = RMA_CONTROL))
  l <- as.data.frame(leave1out(res))
  inf <- influence(res)
  k2_cases[[length(k2_cases) + 1]] <- list(
    id = m, method = m, test = "knha",
    leave1out = list(
      estimate = num(l$estimate), se = num(l$se), statistic = num(l$tval),
      pvalue = num(l$pval), ci_lower = num(l$ci.lb), ci_upper = num(l$ci.ub),
      Q = num(l$Q), Q_pvalue = num(l$Qp), tau2 = num(if (is.null(l$tau2)) c(0, 0) else l$tau2),
      I2 = num(l$I2), H2 = num(l$H2)
    ),
    influence = list(
      rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
      cooks_distance = num(inf$inf$cook.d), cov_ratio = num(inf$inf$cov.r),
      tau2_deleted = num(inf$inf$tau2.del), QE_deleted = num(inf$inf$QE.del),
      hat = num(inf$inf$hat), weight = num(inf$inf$weight), dfbetas = num(inf$dfbs[[1]]),
      influential = I(as.logical(inf$is.infl))
    )
  )
}
one <- catching(rma(bcg$yi[4], bcg$vi[4], test = "knha"))
write_out(list(
  source = source_block(paste(
    "leave1out() and influence() of rma(test = 'knha') on two studies: every refit has",
    "k = 1, which rma() fits with test = 'z' (warning below, muffled inside leave1out()",
    "and influence()). FE's leave1out() has no tau2 column; its tau2 is 0.")),
  data = list(yi = num(bcg$yi[4:5]), vi = num(bcg$vi[4:5]), labels = I(bcg_labels[4:5]),
              citation = paste("trials 4 and 5 of", bcg_citation)),
  cases = k2_cases,
  k1_warnings = one$warnings
), "knha_k2.json")

# ---------------------------------------------------------------- 6c. permutest, infinite statistic
identical_yi <- rep(0.5, 5)
identical_vi <- c(0.01, 0.04, 0.02, 0.09, 0.05)
linear_x <- c(1, 2, 3, 4, 5)
linear_yi <- 0.2 + 0.1 * linear_x
linear_vi <- c(0.02, 0.05, 0.03, 0.04, 0.06)
perm_cases <- list()
for (m in c("REML", "DL", "FE")) for (t in TESTS) {
  res <- suppressWarnings(rma(identical_yi, identical_vi, method = m, test = t,
                              control = RMA_CONTROL))
  p <- suppressWarnings(permutest(res, iter = 1000, progbar = FALSE))
  perm_cases[[length(perm_cases) + 1]] <- list(
    id = paste("identical", m, t, sep = "-"), data = "identical", method = m, test = t,
    statistic = num(res$zval), QM = res$QM, pvalue = num(p$pval), QM_pvalue = p$QMp,
    iterations = length(p$QM.perm), exact = TRUE
  )
  res <- suppressWarnings(rma(linear_yi, linear_vi, mods = ~linear_x, method = m, test = t,
                              control = RMA_CONTROL))
  p <- suppressWarnings(permutest(res, iter = 1000, progbar = FALSE))
  perm_cases[[length(perm_cases) + 1]] <- list(
    id = paste("linear", m, t, sep = "-"), data = "linear", method = m, test = t,
    statistic = num(res$zval), QM = res$QM, pvalue = num(p$pval), QM_pvalue = p$QMp,
    iterations = length(p$QM.perm), exact = TRUE
  )
}
write_out(list(
  source = source_block(paste(
    "permutest(iter = 1000), exact in every case (2^5 sign flips, 5! orders).",
    "p = mean(|z_perm| >= |z| - comptol, na.rm = TRUE): an infinite permuted statistic",
    "counts (Inf >= Inf), and the observed data are one of the permutations. Under knha",
    "with QE = 0 (s2w = 0) metafor's se is 0, its statistics infinite or NaN and its QM NA.")),
  data = list(
    identical = list(yi = num(identical_yi), vi = num(identical_vi),
                     citation = "MADE UP (not data): all effect sizes identical",
                     made_up = TRUE),
    linear = list(yi = num(linear_yi), vi = num(linear_vi), x = num(linear_x),
                  citation = "MADE UP (not data): yi exactly 0.2 + 0.1 x (QE = 0)",
                  made_up = TRUE)
  ),
  cases = perm_cases
), "permutest_inf.json")

# ---------------------------------------------------------------- 6d. trim-and-fill, equal yi
equal_vi <- c(0.035, 0.012, 0.080, 0.021, 0.150, 0.054, 0.009, 0.110)
tf_cases <- list()
for (value in c(0.1, 1 / 3, -0.45)) for (m in c("REML", "DL", "FE")) for (e in c("L0", "R0")) {
  yi <- rep(value, length(equal_vi))
  res <- suppressWarnings(rma(yi, equal_vi, method = m, control = RMA_CONTROL))
  tf <- catching(trimfill(res, estimator = e))
  tf_cases[[length(tf_cases) + 1]] <- c(
    list(id = paste(format(value, digits = 4), m, e, sep = "-"), value = value, method = m,
         estimator = e),
    rma_numbers(res),
    list(beta_minus_yi = c(res$beta) - value,
         trimfill_k0 = if (is.null(tf$value)) NA else tf$value$k0,
         trimfill_error = tf$error,
         trimfill_warnings = I(unique(tf$warnings)))
  )
}
write_out(list(
  source = source_block(paste(
    "trimfill() on studies whose yi are all equal (a symmetric funnel). The pooled",
    "estimate can land an ulp off the common value (beta_minus_yi), which makes every",
    "residual the same sign: metafor 3.8.1's L0 then does not converge and its R0 stops",
    "(max of no negative ranks is -Inf). ipdmeta imputes nothing; rma_numbers hold the fit",
    "that trim-and-fill must leave unchanged.")),
  data = list(vi = num(equal_vi), values = num(c(0.1, 1 / 3, -0.45)),
              citation = "MADE UP (not data): equal effect sizes, unequal variances",
              made_up = TRUE),
  cases = tf_cases
), "trimfill_equal.json")
