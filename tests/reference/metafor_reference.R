# Reference values for ipdmeta.meta from R's metafor.
#
# Run from the repository root:
#
#     Rscript tests/reference/metafor_reference.R
#
# Writes JSON files into tests/reference/metafor/, one per kind of analysis. Each file holds
# a "source" block (R, metafor and metadat versions, date, the control settings used), the
# data every case was fitted to (yi, vi, moderators, group labels, with the citation of the
# published data set), and every number the agreement tests in tests/meta/ compare.
# Numbers are written with sprintf("%.17g") so that they read back as the same doubles;
# non-finite values are written as the strings "Inf", "-Inf", "NaN" and NA as null.
#
# Published data sets (from the metadat package that metafor loads; citations as in its
# documentation):
#   bcg          dat.bcg: Colditz GA, Brewer TF, Berkey CS, et al. (1994). Efficacy of BCG
#                vaccine in the prevention of tuberculosis: meta-analysis of the published
#                literature. JAMA 271(9):698-702. doi:10.1001/jama.1994.03510330076038
#                (log risk ratios; moderators absolute latitude `ablat`, allocation `alloc`)
#   hackshaw     dat.hackshaw1998: Hackshaw AK, Law MR, Wald NJ (1997). The accumulated
#                evidence on lung cancer and environmental tobacco smoke. BMJ 315:980-988.
#                doi:10.1136/bmj.315.7114.980; Hackshaw AK (1998). Lung cancer and passive
#                smoking. Stat Methods Med Res 7(2):119-136. (log odds ratios as given)
#   molloy       dat.molloy2014: Molloy GJ, O'Carroll RE, Ferguson E (2014).
#                Conscientiousness and medication adherence: a meta-analysis. Ann Behav Med
#                47(1):92-101. doi:10.1007/s12160-013-9524-4 (Fisher z of correlations)
#   pritz        dat.pritz1997: Zhou X-H, Brizendine EJ, Pritz MB (1999). Methods for
#                combining rates from several studies. Stat Med 18(5):557-566. (logit of
#                single-arm proportions)
#   normand      dat.normand1999: Normand S-LT (1999). Meta-analysis: formulating,
#                evaluating, combining, and reporting. Stat Med 18(3):321-359.
#                (raw mean differences in length of hospital stay)
#   raudenbush   dat.raudenbush1985: Raudenbush SW (1984). Magnitude of teacher expectancy
#                effects on pupil IQ as a function of the credibility of expectancy
#                induction. J Educ Psychol 76(1):85-97; Raudenbush SW, Bryk AS (1985).
#                Empirical Bayes meta-analysis. J Educ Stat 10(2):75-98. (standardized mean
#                differences as given; moderators `weeks`, `tester`)
#   li2007       dat.li2007: Li J, Zhang Q, Zhang M, Egger M (2007). Intravenous magnesium
#                for acute myocardial infarction. Cochrane Database Syst Rev 2:CD002755.
#                doi:10.1002/14651858.CD002755.pub2 (log odds ratios; escalc's default 1/2
#                correction for zero cells)
# Edge cases: bcg_k2 and bcg_k3 are BCG trials 4-5 and 4-6 (chosen, unlike the first two
# or three trials, so that tau2 is clearly positive and the estimators differ); tau2zero,
# identical and vi_span are MADE-UP numbers (not data) chosen to hit the boundary
# tau2 = 0, all-equal effects, and sampling variances spanning four orders of magnitude.
# The escalc cases use MADE-UP single-arm counts and means.

suppressPackageStartupMessages({
  library(metafor)
})

root <- getwd()
out_dir <- file.path(root, "tests", "reference", "metafor")
if (!dir.exists(file.path(root, "tests", "reference"))) {
  stop("run from the repository root: Rscript tests/reference/metafor_reference.R")
}
dir.create(out_dir, showWarnings = FALSE)

# Convergence settings, much tighter than the tests' relative tolerance of 1e-6:
# - threshold: Fisher scoring (ML, REML, EB) stops when tau2 changes by less than this
#   (metafor's default is 1e-5, which would leave ~1e-6 relative error in tau2);
# - tol: uniroot() tolerance for PM (and the ll0 check), default .Machine$double.eps^0.25;
# - maxiter: room for the slower convergence of the tighter threshold.
RMA_CONTROL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
# Cross-check: iterative fits are repeated with these tighter settings (threshold scaled
# by max(1, 10 tau2)) and the largest relative change in tau2 and the estimate is stored
# per case (convergence_reldiff).
RMA_CONTROL_CHECK <- list(threshold = 1e-14, tol = 1e-14, maxiter = 100000)
ITERATIVE <- c("ML", "REML", "EB", "PM")
# confint(): uniroot() tolerance for the Q-profile bounds (default eps^0.25 ~ 1.2e-4 is far
# too loose for rtol 1e-6), and a tau2.max large enough that no bound here is cut off.
CONFINT_CONTROL <- list(tol = 1e-12, tau2.max = 1e4)
# permutest(): an exact test is done when 2^k (or k!) permutations fit into ITER.
PERM_ITER <- 1000

METHODS <- c("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS <- c("z", "knha")
LEVEL <- 95

# ---------------------------------------------------------------- JSON writer
num_json <- function(x) {
  out <- sprintf("%.17g", x)
  out[is.nan(x)] <- "\"NaN\""
  out[is.infinite(x) & x > 0] <- "\"Inf\""
  out[is.infinite(x) & x < 0] <- "\"-Inf\""
  out[is.na(x) & !is.nan(x)] <- "null"
  out
}

str_json <- function(x) {
  if (length(x) == 0) return(character(0))
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub("\"", "\\\\\"", x)
  x <- gsub("\n", "\\\\n", x)
  out <- paste0("\"", x, "\"")
  out[is.na(x)] <- "null"
  out
}

# Scalars (length-1 vectors without the I() marker) are written as JSON scalars, every
# other atomic vector as an array; named lists become objects, unnamed lists arrays.
to_json <- function(x, indent = 0) {
  pad <- strrep(" ", indent + 2)
  end <- strrep(" ", indent)
  if (is.null(x)) return("null")
  if (is.factor(x)) x <- as.character(x)
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    items <- vapply(x, to_json, character(1), indent = indent + 2)
    if (!is.null(names(x))) {
      items <- paste0(str_json(names(x)), ": ", items)
      return(paste0("{\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", end, "}"))
    }
    return(paste0("[\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", end, "]"))
  }
  as_array <- inherits(x, "AsIs") || length(x) != 1
  x <- unclass(x)
  vals <- if (is.logical(x)) {
    ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.numeric(x)) {
    num_json(as.numeric(x))
  } else {
    str_json(as.character(x))
  }
  if (as_array) paste0("[", paste(vals, collapse = ", "), "]") else vals
}

vec <- function(x) if (is.null(x)) NULL else I(as.vector(unname(x)))

write_json <- function(obj, name) {
  path <- file.path(out_dir, name)
  tmp <- paste0(path, ".tmp")
  writeLines(to_json(obj), tmp)
  file.rename(tmp, path)
  cat("wrote", path, "\n")
}

source_block <- function() {
  list(
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    metadat = as.character(packageVersion("metadat")),
    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
    script = "tests/reference/metafor_reference.R",
    rma_control = RMA_CONTROL,
    rma_control_check = RMA_CONTROL_CHECK,
    confint_control = CONFINT_CONTROL,
    level = LEVEL
  )
}

# Run expr, keeping its value and the warnings it raised (as strings).
with_warnings <- function(expr) {
  warns <- character(0)
  value <- withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  list(value = value, warnings = I(warns))
}

# ---------------------------------------------------------------- data sets
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
molloy <- escalc("ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
pritz <- escalc("PLO", xi = xi, ni = ni, data = dat.pritz1997)
normand <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
                  n2i = n2i, data = dat.normand1999)
li2007 <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)

DATASETS <- list(
  bcg = list(
    yi = bcg$yi, vi = bcg$vi, labels = paste(bcg$author, bcg$year),
    citation = paste("dat.bcg: Colditz GA et al. (1994). Efficacy of BCG vaccine in the",
                     "prevention of tuberculosis. JAMA 271(9):698-702."),
    measure = "RR (log risk ratio), escalc(ai=tpos, bi=tneg, ci=cpos, di=cneg)",
    made_up = FALSE
  ),
  hackshaw = list(
    yi = dat.hackshaw1998$yi, vi = dat.hackshaw1998$vi,
    labels = paste(dat.hackshaw1998$author, dat.hackshaw1998$year),
    citation = paste("dat.hackshaw1998: Hackshaw AK, Law MR, Wald NJ (1997). The accumulated",
                     "evidence on lung cancer and environmental tobacco smoke. BMJ",
                     "315:980-988; Hackshaw AK (1998). Stat Methods Med Res 7(2):119-136."),
    measure = "log odds ratio as given in the data set",
    made_up = FALSE
  ),
  molloy = list(
    yi = molloy$yi, vi = molloy$vi, labels = paste(molloy$authors, molloy$year),
    citation = paste("dat.molloy2014: Molloy GJ, O'Carroll RE, Ferguson E (2014).",
                     "Conscientiousness and medication adherence: a meta-analysis.",
                     "Ann Behav Med 47(1):92-101."),
    measure = "ZCOR (Fisher r-to-z), escalc(ri=ri, ni=ni)",
    made_up = FALSE
  ),
  pritz = list(
    yi = pritz$yi, vi = pritz$vi, labels = as.character(pritz$authors),
    citation = paste("dat.pritz1997: Zhou X-H, Brizendine EJ, Pritz MB (1999). Methods for",
                     "combining rates from several studies. Stat Med 18(5):557-566."),
    measure = "PLO (logit proportion), escalc(xi=xi, ni=ni)",
    made_up = FALSE
  ),
  normand = list(
    yi = normand$yi, vi = normand$vi, labels = as.character(normand$source),
    citation = paste("dat.normand1999: Normand S-LT (1999). Meta-analysis: formulating,",
                     "evaluating, combining, and reporting. Stat Med 18(3):321-359."),
    measure = "MD (raw mean difference), escalc(m1i, sd1i, n1i, m2i, sd2i, n2i)",
    made_up = FALSE
  ),
  raudenbush = list(
    yi = dat.raudenbush1985$yi, vi = dat.raudenbush1985$vi,
    labels = paste(dat.raudenbush1985$author, dat.raudenbush1985$year),
    citation = paste("dat.raudenbush1985: Raudenbush SW (1984). J Educ Psychol 76(1):85-97;",
                     "Raudenbush SW, Bryk AS (1985). Empirical Bayes meta-analysis.",
                     "J Educ Stat 10(2):75-98."),
    measure = "SMD as given in the data set",
    made_up = FALSE
  ),
  li2007 = list(
    yi = li2007$yi, vi = li2007$vi, labels = paste(li2007$study, li2007$year),
    citation = paste("dat.li2007: Li J, Zhang Q, Zhang M, Egger M (2007). Intravenous",
                     "magnesium for acute myocardial infarction. Cochrane Database Syst Rev",
                     "2:CD002755."),
    measure = "OR (log odds ratio), escalc(ai, n1i, ci, n2i), default 1/2 added to zero cells",
    made_up = FALSE
  ),
  # ---- edge cases
  bcg_k2 = list(
    yi = bcg$yi[4:5], vi = bcg$vi[4:5], labels = paste(bcg$author, bcg$year)[4:5],
    citation = "trials 4 and 5 of dat.bcg (Colditz et al. 1994): edge case k = 2",
    measure = "RR (log risk ratio)", made_up = FALSE
  ),
  bcg_k3 = list(
    yi = bcg$yi[4:6], vi = bcg$vi[4:6], labels = paste(bcg$author, bcg$year)[4:6],
    citation = "trials 4 to 6 of dat.bcg (Colditz et al. 1994): edge case k = 3",
    measure = "RR (log risk ratio)", made_up = FALSE
  ),
  tau2zero = list(
    yi = c(0.10, 0.18, 0.05, 0.14, 0.02, 0.21),
    vi = c(0.020, 0.030, 0.025, 0.040, 0.015, 0.050),
    labels = paste("study", 1:6),
    citation = paste("MADE UP (not data): homogeneous effects so that every estimator but SJ",
                     "puts tau2 at its boundary 0"),
    measure = "none", made_up = TRUE
  ),
  identical = list(
    yi = rep(0.5, 5), vi = c(0.01, 0.04, 0.02, 0.09, 0.05),
    labels = paste("study", 1:5),
    citation = "MADE UP (not data): all effect sizes identical (Q = 0)",
    measure = "none", made_up = TRUE
  ),
  vi_span = list(
    yi = c(0.31, -0.12, 0.48, 0.05, 0.92, -0.40, 0.27, 1.35),
    vi = c(1e-4, 4e-4, 2e-3, 1e-2, 5e-2, 0.2, 0.5, 1.0),
    labels = paste("study", 1:8),
    citation = "MADE UP (not data): sampling variances from 1e-4 to 1 (four orders of magnitude)",
    measure = "none", made_up = TRUE
  )
)

# ---------------------------------------------------------------- random effects
fit_rma <- function(yi, vi, method, test, level = LEVEL, ...) {
  rma(yi, vi, method = method, test = test, level = level, control = RMA_CONTROL, ...)
}

re_numbers <- function(res, level = LEVEL) {
  if (res$method %in% c("FE", "EE", "CE")) {
    # predict() on a common-effect model has no prediction interval: it equals the CI.
    pr <- predict(res, level = level)
    pi_lb <- pr$ci.lb
    pi_ub <- pr$ci.ub
  } else {
    pr <- predict(res, level = level)
    pi_lb <- pr$pi.lb
    pi_ub <- pr$pi.ub
  }
  list(
    estimate = c(res$beta), se = res$se, statistic = res$zval, pvalue = res$pval,
    ci_lower = res$ci.lb, ci_upper = res$ci.ub, pi_lower = pi_lb, pi_upper = pi_ub,
    tau2 = res$tau2, I2 = res$I2, H2 = res$H2, Q = res$QE, Q_df = res$k - res$p,
    Q_pvalue = res$QEp, k = res$k, df = if (is.na(res$ddf)) NA_real_ else res$ddf,
    s2w = res$s2w, vt = res$vt
  )
}

het_ci <- function(res, level = LEVEL) {
  if (res$method %in% c("FE", "EE", "CE")) return(NULL)
  ci <- confint(res, level = level, type = "QP", control = CONFINT_CONTROL)
  r <- ci$random
  row <- function(name) list(estimate = r[name, "estimate"], lower = r[name, "ci.lb"],
                             upper = r[name, "ci.ub"])
  list(
    type = "QP",
    tau2 = row("tau^2"), tau = row("tau"), I2 = row("I^2(%)"), H2 = row("H^2"),
    lb_sign = ci$lb.sign, ub_sign = ci$ub.sign, ci_null = isTRUE(ci$ci.null)
  )
}

re_case <- function(ds, method, test, level = LEVEL) {
  d <- DATASETS[[ds]]
  fw <- with_warnings(fit_rma(d$yi, d$vi, method, test, level))
  res <- fw$value
  hc <- with_warnings(het_ci(res, level))
  conv <- NA_real_
  if (method %in% ITERATIVE) {
    # The threshold is absolute; for a large tau2 (normand: ~685) 1e-14 is below the
    # spacing of doubles, so scale it with tau2.
    thr <- RMA_CONTROL_CHECK$threshold * max(1, 10 * res$tau2)
    ctl <- modifyList(RMA_CONTROL_CHECK, list(threshold = thr, tol = thr))
    chk <- tryCatch(
      suppressWarnings(rma(d$yi, d$vi, method = method, test = test, level = level,
                           control = ctl)),
      error = function(e) NULL
    )
    rel <- function(a, b) if (a == b) 0 else abs(a - b) / max(abs(a), abs(b))
    if (!is.null(chk)) conv <- max(rel(res$tau2, chk$tau2), rel(c(res$beta), c(chk$beta)))
  }
  c(
    list(dataset = ds, method = method, test = test, level = level / 100),
    re_numbers(res, level),
    list(heterogeneity_ci = hc$value, convergence_reldiff = conv,
         warnings = I(c(fw$warnings, hc$warnings)))
  )
}

case_id <- function(...) paste(..., sep = "-")

datasets_json <- lapply(DATASETS, function(d) {
  list(yi = vec(d$yi), vi = vec(d$vi), labels = vec(d$labels), citation = d$citation,
       measure = d$measure, made_up = d$made_up)
})

re_cases <- list()
for (ds in names(DATASETS)) {
  for (method in METHODS) {
    for (test in TESTS) {
      re_cases[[case_id(ds, method, test)]] <- re_case(ds, method, test)
    }
  }
}
# Other confidence levels (the level argument reaches every interval).
for (lv in c(90, 99)) {
  for (method in c("REML", "DL", "FE")) {
    for (test in TESTS) {
      re_cases[[case_id("bcg", method, test, paste0("L", lv))]] <- re_case("bcg", method, test,
                                                                             level = lv)
    }
  }
}

write_json(list(
  source = source_block(),
  notes = paste(
    "random_effects: rma(yi, vi, method, test, level, control=rma_control); pi_* from",
    "predict() (for FE equal to the CI); heterogeneity_ci from confint(type='QP',",
    "control=confint_control), null for FE. I2 in percent. df is k - p under knha, null",
    "under z. s2w is the Knapp-Hartung scale factor (1 under z); vt the 'typical' sampling",
    "variance used for I2 and H2."
  ),
  datasets = datasets_json,
  cases = re_cases
), "random_effects.json")

# ---------------------------------------------------------------- meta-regression
MR_SETS <- list(
  bcg_ablat = list(data = "bcg", moderators = list(ablat = dat.bcg$ablat), formula = ~ablat,
                   kind = "continuous"),
  bcg_alloc = list(data = "bcg", moderators = list(alloc = as.character(dat.bcg$alloc)),
                   formula = ~factor(alloc), kind = "categorical",
                   levels = levels(factor(dat.bcg$alloc))),
  raudenbush_weeks = list(data = "raudenbush",
                          moderators = list(weeks = dat.raudenbush1985$weeks),
                          formula = ~weeks, kind = "continuous")
)

coef_table <- function(res) {
  list(
    names = vec(rownames(res$beta)), estimate = vec(res$beta), se = vec(res$se),
    statistic = vec(res$zval), df = vec(rep(if (is.na(res$ddf)) NA_real_ else res$ddf, res$p)),
    pvalue = vec(res$pval), ci_lower = vec(res$ci.lb), ci_upper = vec(res$ci.ub)
  )
}

mr_case <- function(setname, method, test) {
  s <- MR_SETS[[setname]]
  d <- DATASETS[[s$data]]
  mods_df <- as.data.frame(s$moderators, stringsAsFactors = FALSE)
  fw <- with_warnings(rma(d$yi, d$vi, mods = s$formula, data = mods_df, method = method,
                          test = test, level = LEVEL, control = RMA_CONTROL))
  res <- fw$value
  list(
    moderator_set = setname, method = method, test = test, level = LEVEL / 100,
    coefficients = coef_table(res),
    tau2 = res$tau2, I2 = res$I2, H2 = res$H2,
    R2 = if (is.null(res$R2)) NA_real_ else res$R2,
    QM = res$QM, QM_df = res$QMdf[1], QM_df2 = res$QMdf[2], QM_pvalue = res$QMp,
    QE = res$QE, QE_df = res$k - res$p, QE_pvalue = res$QEp, k = res$k,
    warnings = fw$warnings
  )
}

mr_cases <- list()
for (setname in names(MR_SETS)) {
  for (method in METHODS) {
    for (test in TESTS) {
      mr_cases[[case_id(setname, method, test)]] <- mr_case(setname, method, test)
    }
  }
}
mr_sets_json <- lapply(MR_SETS, function(s) {
  d <- DATASETS[[s$data]]
  list(dataset = s$data, yi = vec(d$yi), vi = vec(d$vi),
       moderators = lapply(s$moderators, vec), formula = deparse(s$formula), kind = s$kind,
       levels = if (is.null(s$levels)) NULL else vec(s$levels),
       citation = d$citation)
})
write_json(list(
  source = source_block(),
  notes = paste(
    "meta_regression: rma(yi, vi, mods=formula, method, test). Categorical moderators are",
    "treatment-coded with the first level (R's sorted factor levels) as reference;",
    "coefficients are in R's column order (intercept first). Under knha QM is the F",
    "statistic with df (QM_df, QM_df2); under z QM is chi-square with QM_df (QM_df2 null).",
    "R2 is metafor's pseudo R2 in percent (null for FE)."
  ),
  moderator_sets = mr_sets_json,
  cases = mr_cases
), "meta_regression.json")

# ---------------------------------------------------------------- subgroups
SG_SETS <- list(
  bcg_alloc = list(data = "bcg", groups = as.character(dat.bcg$alloc)),
  raudenbush_tester = list(data = "raudenbush", groups = as.character(dat.raudenbush1985$tester))
)

sg_case <- function(setname, method, test) {
  s <- SG_SETS[[setname]]
  d <- DATASETS[[s$data]]
  lv <- sort(unique(s$groups))
  warns <- character(0)
  per <- lapply(lv, function(g) {
    keep <- s$groups == g
    fw <- with_warnings(fit_rma(d$yi[keep], d$vi[keep], method, test))
    warns <<- c(warns, fw$warnings)
    r <- re_numbers(fw$value)
    r[c("estimate", "se", "statistic", "pvalue", "ci_lower", "ci_upper", "pi_lower",
        "pi_upper", "tau2", "I2", "H2", "Q", "Q_df", "Q_pvalue", "k", "df")]
  })
  names(per) <- lv
  est <- vapply(per, function(p) p$estimate, numeric(1))
  se <- vapply(per, function(p) p$se, numeric(1))
  # Test for subgroup differences with separate tau2: a common-effect meta-analysis of the
  # subgroup estimates (metafor's documented recipe); its Q is Q_between on G - 1 df.
  between <- rma(est, sei = se, method = "FE", control = RMA_CONTROL)
  # Common tau2: one model with the group as moderator; QM tests equality of the groups,
  # and the no-intercept parametrisation gives each group's estimate under common tau2.
  fw1 <- with_warnings(rma(d$yi, d$vi, mods = ~factor(g), data = data.frame(g = s$groups),
                           method = method, test = test, control = RMA_CONTROL))
  fw2 <- with_warnings(rma(d$yi, d$vi, mods = ~factor(g) - 1, data = data.frame(g = s$groups),
                           method = method, test = test, control = RMA_CONTROL))
  common <- fw1$value
  cell <- fw2$value
  list(
    subgroup_set = setname, method = method, test = test, level = LEVEL / 100,
    groups_order = vec(lv),
    separate = list(
      groups = per,
      Q_between = between$QE, Q_between_df = between$k - 1, Q_between_pvalue = between$QEp
    ),
    common = list(
      tau2 = common$tau2, I2 = common$I2, QM = common$QM, QM_df = common$QMdf[1],
      QM_df2 = common$QMdf[2], QM_pvalue = common$QMp, QE = common$QE,
      QE_df = common$k - common$p, QE_pvalue = common$QEp,
      group_estimates = coef_table(cell)
    ),
    warnings = I(c(warns, fw1$warnings, fw2$warnings))
  )
}

sg_cases <- list()
for (setname in names(SG_SETS)) {
  for (method in METHODS) {
    for (test in TESTS) {
      sg_cases[[case_id(setname, method, test)]] <- sg_case(setname, method, test)
    }
  }
}
sg_sets_json <- lapply(SG_SETS, function(s) {
  d <- DATASETS[[s$data]]
  list(dataset = s$data, yi = vec(d$yi), vi = vec(d$vi), groups = vec(s$groups),
       citation = d$citation)
})
write_json(list(
  source = source_block(),
  notes = paste(
    "subgroups: separate = rma() per group (groups in sorted order) and the test for",
    "subgroup differences Q_between = QE of rma(estimates, sei=se, method='FE') over the",
    "group estimates and their standard errors as fitted (Knapp-Hartung se under knha);",
    "common = rma(mods=~factor(group)) with QM (F under knha), and the group estimates",
    "under the common tau2 from rma(mods=~factor(group)-1)."
  ),
  subgroup_sets = sg_sets_json,
  cases = sg_cases
), "subgroups.json")

# ---------------------------------------------------------------- leave-one-out, influence
DIAG_DATASETS <- c("bcg", "normand")
l1o_cases <- list()
inf_cases <- list()
for (ds in DIAG_DATASETS) {
  d <- DATASETS[[ds]]
  for (method in METHODS) {
    for (test in TESTS) {
      res <- suppressWarnings(fit_rma(d$yi, d$vi, method, test))
      l1 <- with_warnings(leave1out(res))
      l <- l1$value
      stat <- if (!is.null(l$zval)) l$zval else l$tval
      l1o_cases[[case_id(ds, method, test)]] <- list(
        dataset = ds, method = method, test = test, level = LEVEL / 100,
        estimate = vec(l$estimate), se = vec(l$se), statistic = vec(stat),
        pvalue = vec(l$pval), ci_lower = vec(l$ci.lb), ci_upper = vec(l$ci.ub),
        Q = vec(l$Q), Q_pvalue = vec(l$Qp), tau2 = vec(l$tau2), I2 = vec(l$I2),
        H2 = vec(l$H2), warnings = l1$warnings
      )
      inf <- with_warnings(influence(res))
      f <- inf$value$inf
      inf_cases[[case_id(ds, method, test)]] <- list(
        dataset = ds, method = method, test = test,
        rstudent = vec(f$rstudent), dffits = vec(f$dffits), cooks_distance = vec(f$cook.d),
        cov_ratio = vec(f$cov.r), tau2_deleted = vec(f$tau2.del), QE_deleted = vec(f$QE.del),
        hat = vec(f$hat), weight = vec(f$weight), influential = vec(f$inf == "*"),
        warnings = inf$warnings
      )
    }
  }
}
write_json(list(
  source = source_block(),
  notes = "leave1out(rma(...)): one row per omitted study, in data order.",
  datasets = datasets_json[DIAG_DATASETS],
  cases = l1o_cases
), "leave_one_out.json")
write_json(list(
  source = source_block(),
  notes = paste(
    "influence(rma(...))$inf: rstudent, dffits, cook.d, cov.r, tau2.del, QE.del, hat",
    "(diagonal of the hat matrix, a fraction), weight (in percent), inf ('*' -> true)."
  ),
  datasets = datasets_json[DIAG_DATASETS],
  cases = inf_cases
), "influence.json")

# ---------------------------------------------------------------- regtest, trimfill
BIAS_DATASETS <- c("bcg", "hackshaw", "molloy", "li2007")
reg_cases <- list()
tf_cases <- list()
for (ds in BIAS_DATASETS) {
  d <- DATASETS[[ds]]
  for (method in METHODS) {
    for (test in TESTS) {
      res <- suppressWarnings(fit_rma(d$yi, d$vi, method, test))
      rt <- with_warnings(regtest(res))
      r <- rt$value
      reg_cases[[case_id(ds, method, test)]] <- list(
        dataset = ds, method = method, test = test, model = r$model, predictor = r$predictor,
        statistic = r$zval, pvalue = r$pval, df = if (is.na(r$dfs)) NA_real_ else r$dfs,
        limit_estimate = unname(r$est), limit_ci_lower = unname(r$ci.lb),
        limit_ci_upper = unname(r$ci.ub), warnings = rt$warnings
      )
      # trimfill() passes `...` (not the model's control) to its internal rma() fits, so the
      # tight control is given here; it also does not pass the model's test on: its refit
      # uses test = "z" even for a knha model (metafor 3.8), so knha cases equal z cases.
      tw <- with_warnings(trimfill(res, control = RMA_CONTROL))
      tf <- tw$value
      filled <- tf$fill == 1
      tf_cases[[case_id(ds, method, test)]] <- c(
        list(dataset = ds, method = method, test = test, estimator = "L0",
             k0 = tf$k0, side = tf$side,
             filled_yi = vec(tf$yi[filled]), filled_vi = vec(tf$vi[filled])),
        re_numbers(tf)[c("estimate", "se", "statistic", "pvalue", "ci_lower", "ci_upper",
                         "tau2", "I2", "H2", "Q", "Q_pvalue", "k")],
        list(warnings = tw$warnings)
      )
    }
  }
}
write_json(list(
  source = source_block(),
  notes = paste(
    "regtest(rma(...)) with its defaults model='rma', predictor='sei': the test of the",
    "sei coefficient (t with df = k - 2 under knha), and the limit estimate (intercept)."
  ),
  datasets = datasets_json[BIAS_DATASETS],
  cases = reg_cases
), "regtest.json")
write_json(list(
  source = source_block(),
  notes = paste(
    "trimfill(rma(...), control=rma_control) with estimator L0 and side chosen by metafor;",
    "the numbers are the refit on the filled data with the same method but test='z' (metafor",
    "3.8 does not pass the model's test on to the refit, so knha cases equal z cases);",
    "filled_* are the imputed studies."
  ),
  datasets = datasets_json[BIAS_DATASETS],
  cases = tf_cases
), "trimfill.json")

# ---------------------------------------------------------------- permutation tests
PERM_DATASETS <- c("normand", "bcg_k3", "tau2zero")
perm_cases <- list()
for (ds in PERM_DATASETS) {
  d <- DATASETS[[ds]]
  for (method in c("REML", "DL", "FE")) {
    for (test in TESTS) {
      res <- suppressWarnings(fit_rma(d$yi, d$vi, method, test))
      pw <- with_warnings(permutest(res, iter = PERM_ITER, progbar = FALSE))
      p <- pw$value
      perm_cases[[case_id(ds, method, test)]] <- list(
        dataset = ds, method = method, test = test, moderators = NULL,
        exact = p$exact.iter <= PERM_ITER, n_permutations = p$exact.iter,
        statistic = vec(p$zval), pvalue = vec(p$pval), QM = p$QM, QM_pvalue = p$QMp,
        warnings = pw$warnings
      )
    }
  }
}
# Meta-regression: permuting rows; 6! = 720 permutations <= PERM_ITER, so exact.
perm_mr <- list(yi = bcg$yi[1:6], vi = bcg$vi[1:6], ablat = dat.bcg$ablat[1:6])
for (method in c("REML", "DL")) {
  for (test in TESTS) {
    res <- suppressWarnings(rma(perm_mr$yi, perm_mr$vi, mods = ~ablat,
                                data = data.frame(ablat = perm_mr$ablat), method = method,
                                test = test, control = RMA_CONTROL))
    pw <- with_warnings(permutest(res, iter = PERM_ITER, progbar = FALSE))
    p <- pw$value
    perm_cases[[case_id("bcg_k6_ablat", method, test)]] <- list(
      dataset = "bcg_k6_ablat", method = method, test = test, moderators = "ablat",
      exact = p$exact.iter <= PERM_ITER, n_permutations = p$exact.iter,
      statistic = vec(p$zval), pvalue = vec(p$pval), QM = p$QM, QM_pvalue = p$QMp,
      warnings = pw$warnings
    )
  }
}
perm_data <- datasets_json[PERM_DATASETS]
perm_data$bcg_k6_ablat <- list(
  yi = vec(perm_mr$yi), vi = vec(perm_mr$vi), ablat = vec(perm_mr$ablat),
  citation = "first six trials of dat.bcg (Colditz et al. 1994) with absolute latitude",
  made_up = FALSE
)
write_json(list(
  source = source_block(),
  notes = paste(
    "permutest(rma(...), iter=1000): exact (all 2^k sign flips, or all k! row permutations",
    "for a meta-regression) whenever that number is <= 1000, so the p-values are",
    "deterministic. pvalue per coefficient (two-sided, metafor's comptol",
    "sqrt(.Machine$double.eps) on the comparisons); QM_pvalue for the omnibus test."
  ),
  datasets = perm_data,
  cases = perm_cases
), "permutest.json")

# ---------------------------------------------------------------- escalc (single arm)
# MADE-UP single-arm data (not from any study).
prop_data <- list(
  no_zero = list(xi = c(12, 5, 30, 8, 17, 3), ni = c(20, 15, 41, 9, 25, 11)),
  with_zero = list(xi = c(0, 4, 7, 10, 2), ni = c(12, 10, 20, 10, 30))
)
mean_data <- list(mi = c(55.2, 61.0, 48.7, 70.3, 66.1), sdi = c(20.1, 25.4, 18.2, 30.0, 22.7),
                  ni = c(14, 9, 22, 6, 31))
BACK <- list(
  PR = list(transf = NULL, name = "identity"),
  PLO = list(transf = transf.ilogit, name = "transf.ilogit"),
  PFT = list(transf = transf.ipft.hm, name = "transf.ipft.hm")
)
esc_cases <- list()
for (pd in names(prop_data)) {
  x <- prop_data[[pd]]
  for (measure in c("PR", "PLO", "PFT")) {
    es <- escalc(measure, xi = x$xi, ni = x$ni)
    res <- fit_rma(es$yi, es$vi, "REML", "z")
    bt <- BACK[[measure]]
    if (is.null(bt$transf)) {
      pr <- predict(res)
      yi_back <- c(es$yi)
    } else if (measure == "PFT") {
      pr <- predict(res, transf = bt$transf, targs = list(ni = x$ni))
      yi_back <- transf.ipft(es$yi, x$ni)
    } else {
      pr <- predict(res, transf = bt$transf)
      yi_back <- bt$transf(es$yi)
    }
    esc_cases[[case_id(measure, pd)]] <- list(
      measure = measure, data = pd, xi = vec(x$xi), ni = vec(x$ni),
      yi = vec(es$yi), vi = vec(es$vi), yi_back = vec(yi_back),
      pooled = list(method = "REML", test = "z", estimate = c(res$beta), se = res$se,
                    back_transform = bt$name, estimate_back = unname(pr$pred),
                    ci_lower_back = unname(pr$ci.lb), ci_upper_back = unname(pr$ci.ub),
                    pi_lower_back = unname(pr$pi.lb), pi_upper_back = unname(pr$pi.ub))
    )
  }
}
es <- escalc("MN", mi = mean_data$mi, sdi = mean_data$sdi, ni = mean_data$ni)
esc_cases[["MN-means"]] <- list(
  measure = "MN", data = "means", mi = vec(mean_data$mi), sdi = vec(mean_data$sdi),
  ni = vec(mean_data$ni), yi = vec(es$yi), vi = vec(es$vi)
)
write_json(list(
  source = source_block(),
  notes = paste(
    "escalc() on MADE-UP single-arm data. PR/PLO use escalc's defaults add=1/2,",
    "to='only0' (1/2 added to xi and ni - xi of a study with a zero cell); PFT adds",
    "nothing. yi_back: per-study back-transformation (PLO transf.ilogit, PFT transf.ipft",
    "with the study's ni). pooled: rma(method='REML') then predict() with transf",
    "(PFT: transf.ipft.hm with targs ni, i.e. the harmonic mean of ni)."
  ),
  cases = esc_cases
), "escalc.json")
