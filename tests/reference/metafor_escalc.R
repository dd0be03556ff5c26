# Reference values for ipdmeta.meta.escalc from R's metafor::escalc.
#
# Run from the repository root:
#
#     Rscript tests/reference/metafor_escalc.R
#
# Writes one JSON file per measure into tests/reference/metafor_escalc/ (RR.json, OR.json,
# ...). Each holds a "source" block (R, metafor and metadat versions, date), the data sets
# used (published ones with their citation, MADE-UP ones marked made_up), and the cases:
# the escalc arguments exactly as ipdmeta takes them (metafor's names), add and to when
# given (null: escalc's default), and escalc's yi, vi and its "ni" attribute, the
# 0-based positions of studies escalc returned as NA, escalc's warnings, or the error
# escalc stopped with. Numbers are written by json_writer.R with sprintf("%.17g") (they
# read back as the same doubles); NA is null.
#
# Tests: tests/meta/test_agreement_escalc.py, at rtol 1e-8. Every measure is a closed form
# (no iteration, no optimisation), so the two implementations differ only by
# floating-point rounding (1e-16 relative per operation, a few dozen operations).
#
# Published data sets (metadat 1.2-0, loaded by metafor; citations as its documentation):
#   dat.bcg          Colditz GA, Brewer TF, Berkey CS, et al. (1994). Efficacy of BCG vaccine
#                    in the prevention of tuberculosis: meta-analysis of the published
#                    literature. JAMA 271(9):698-702. doi:10.1001/jama.1994.03510330076038
#   dat.li2007       Li J, Zhang Q, Zhang M, Egger M (2007). Intravenous magnesium for acute
#                    myocardial infarction. Cochrane Database Syst Rev 2:CD002755.
#                    doi:10.1002/14651858.CD002755.pub2 (two trials with a zero cell)
#   dat.normand1999  Normand S-LT (1999). Meta-analysis: formulating, evaluating, combining,
#                    and reporting. Stat Med 18(3):321-359.
#   dat.curtis1998   Hedges LV, Gurevitch J, Curtis PS (1999). The meta-analysis of response
#                    ratios in experimental ecology. Ecology 80(4):1150-1156; Curtis PS,
#                    Wang X (1998). A meta-analysis of elevated CO2 effects on woody plant
#                    mass, form, and physiology. Oecologia 113(3):299-313.
#   dat.molloy2014   Molloy GJ, O'Carroll RE, Ferguson E (2014). Conscientiousness and
#                    medication adherence: a meta-analysis. Ann Behav Med 47(1):92-101.
#   dat.hart1999     Hart RG, Benavente O, McBride R, Pearce LA (1999). Antithrombotic
#                    therapy to prevent stroke in patients with atrial fibrillation: a
#                    meta-analysis. Ann Intern Med 131(7):492-501.
#   dat.nielweise2008  Niel-Weise BS, Stijnen T, van den Broek PJ (2008). Anti-infective-
#                    treated central venous catheters for total parenteral nutrition or
#                    chemotherapy: a systematic review. J Hosp Infect 69(2):114-123.
#   dat.pritz1997    Zhou X-H, Brizendine EJ, Pritz MB (1999). Methods for combining rates
#                    from several studies. Stat Med 18(5):557-566.
# and, for the pre-post measures (metadat 1.2-0 has no data set with pre and post means,
# SDs and correlations), the five training studies of Carlson KD, Schmidt FL (1999). Impact
# of experimental design on effect size: findings from the research literature on
# training. J Appl Psychol 84(6):851-862, as used by Morris SB (2008). Estimating effect
# sizes from pretest-posttest-control group designs. Organ Res Methods 11(2):364-386,
# typed in as on https://www.metafor-project.org/doku.php/analyses:morris2008 (treatment
# and control groups).
#
# Everything else is MADE-UP (not data): small vectors chosen to hit the edge cases
# (zero cells under every add/to, double-zero tables, ties, SDs of 0, tiny and large
# samples, correlations of -1, 0 and 1, negative means).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

if (!dir.exists(file.path("tests", "reference"))) {
  stop("run from the repository root: Rscript tests/reference/metafor_escalc.R")
}
source(file.path("tests", "reference", "json_writer.R"))
out_dir <- file.path("tests", "reference", "metafor_escalc")
dir.create(out_dir, showWarnings = FALSE)

vec <- function(x) I(as.vector(unname(x)))

source_block <- function() {
  list(
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    metadat = as.character(packageVersion("metadat")),
    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
    script = "tests/reference/metafor_escalc.R"
  )
}

# ---------------------------------------------------------------- data sets
DATASETS <- list(
  bcg = list(made_up = FALSE, columns = "ai = tpos, bi = tneg, ci = cpos, di = cneg",
             citation = paste("dat.bcg: Colditz GA et al. (1994). Efficacy of BCG vaccine in",
                              "the prevention of tuberculosis. JAMA 271(9):698-702.")),
  bcg_sizes = list(made_up = FALSE,
                   columns = "ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg",
                   citation = "dat.bcg (Colditz et al. 1994), group sizes instead of bi, di"),
  li2007 = list(made_up = FALSE, columns = "ai, n1i, ci, n2i",
                citation = paste("dat.li2007: Li J, Zhang Q, Zhang M, Egger M (2007).",
                                 "Intravenous magnesium for acute myocardial infarction.",
                                 "Cochrane Database Syst Rev 2:CD002755.")),
  tables_edge = list(made_up = TRUE, columns = "ai, bi, ci, di",
                     citation = paste("MADE-UP 2x2 tables: a double-zero table (ai = ci = 0),",
                                      "a table with bi = 0, equal risks (RR = RD = 0), two",
                                      "ordinary ones")),
  hart1999 = list(made_up = FALSE, columns = "x1i, t1i, x2i, t2i (IR, IRLN: xi = x1i, ti = t1i)",
                  citation = paste("dat.hart1999: Hart RG, Benavente O, McBride R, Pearce LA",
                                   "(1999). Antithrombotic therapy to prevent stroke in patients",
                                   "with atrial fibrillation: a meta-analysis. Ann Intern Med",
                                   "131(7):492-501.")),
  hart1999_control = list(made_up = FALSE, columns = "xi = x2i, ti = t2i",
                          citation = "dat.hart1999 (Hart et al. 1999), control groups"),
  nielweise2008 = list(made_up = FALSE, columns = "x1i, t1i, x2i, t2i",
                       citation = paste("dat.nielweise2008: Niel-Weise BS, Stijnen T, van den",
                                        "Broek PJ (2008). Anti-infective-treated central venous",
                                        "catheters for total parenteral nutrition or",
                                        "chemotherapy: a systematic review. J Hosp Infect",
                                        "69(2):114-123.")),
  counts_edge = list(made_up = TRUE, columns = "x1i, x2i, t1i, t2i",
                     citation = paste("MADE-UP events and person-time: zero events in one or",
                                      "both groups, equal rates, fractional person-time")),
  rates_edge = list(made_up = TRUE, columns = "xi, ti",
                    citation = "MADE-UP single-group events and person-time with zero events"),
  normand1999 = list(made_up = FALSE, columns = "m1i, sd1i, n1i, m2i, sd2i, n2i",
                     citation = paste("dat.normand1999: Normand S-LT (1999). Meta-analysis:",
                                      "formulating, evaluating, combining, and reporting.",
                                      "Stat Med 18(3):321-359.")),
  normand1999_arm1 = list(made_up = FALSE, columns = "mi = m1i, sdi = sd1i, ni = n1i",
                          citation = "dat.normand1999 (Normand 1999), first groups"),
  normand1999_arm2 = list(made_up = FALSE, columns = "mi = m2i, sdi = sd2i, ni = n2i",
                          citation = "dat.normand1999 (Normand 1999), second groups"),
  curtis1998 = list(made_up = FALSE, columns = "m1i, sd1i, n1i, m2i, sd2i, n2i",
                    citation = paste("dat.curtis1998: Hedges LV, Gurevitch J, Curtis PS (1999).",
                                     "The meta-analysis of response ratios in experimental",
                                     "ecology. Ecology 80(4):1150-1156; Curtis PS, Wang X",
                                     "(1998). Oecologia 113(3):299-313.")),
  means_edge = list(made_up = TRUE, columns = "m1i, m2i, sd1i, sd2i, n1i, n2i",
                    citation = paste("MADE-UP two-group means: equal means, an SD of 0 in one",
                                     "group, groups of 2 and of 1000+")),
  means_too_small = list(made_up = TRUE, columns = "m1i, m2i, sd1i, sd2i, n1i, n2i",
                         citation = "MADE-UP: n1i + n2i = 3 (no Hedges' correction)"),
  means_zero_sd = list(made_up = TRUE, columns = "m1i, m2i, sd1i, sd2i, n1i, n2i",
                       citation = "MADE-UP: both SDs 0 in one study"),
  means_negative = list(made_up = TRUE, columns = "m1i, m2i, sd1i, sd2i, n1i, n2i",
                        citation = "MADE-UP: negative means, the same sign in each study"),
  means_opposite = list(made_up = TRUE, columns = "m1i, m2i, sd1i, sd2i, n1i, n2i",
                        citation = "MADE-UP: means of opposite signs in one study"),
  smd_from_d = list(made_up = TRUE, columns = "di, n1i, n2i",
                    citation = "MADE-UP standardized mean differences (Cohen's d)"),
  smd_from_t = list(made_up = TRUE, columns = "ti, n1i, n2i",
                    citation = "MADE-UP t statistics"),
  molloy2014 = list(made_up = FALSE, columns = "ri, ni",
                    citation = paste("dat.molloy2014: Molloy GJ, O'Carroll RE, Ferguson E",
                                     "(2014). Conscientiousness and medication adherence: a",
                                     "meta-analysis. Ann Behav Med 47(1):92-101.")),
  cor_edge = list(made_up = TRUE, columns = "ri, ni",
                  citation = "MADE-UP correlations -1, 1, 0, 0.999 and ni = 4 (the smallest)"),
  cor_interior = list(made_up = TRUE, columns = "ri, ni",
                      citation = "MADE-UP correlations 0, +-0.999 and ni = 4 (the smallest)"),
  cor_small = list(made_up = TRUE, columns = "ri, ni",
                   citation = "MADE-UP: ni = 3 (escalc gives no variance)"),
  mean_edge = list(made_up = TRUE, columns = "mi, sdi, ni",
                   citation = "MADE-UP single-group means: an SD of 0, ni = 2, a large ni"),
  mean_positive_sd = list(made_up = TRUE, columns = "mi, sdi, ni",
                          citation = "MADE-UP single-group means, every SD > 0, ni >= 2"),
  mean_zero = list(made_up = TRUE, columns = "mi, sdi, ni",
                   citation = "MADE-UP: a mean of 0"),
  mean_negative = list(made_up = TRUE, columns = "mi, sdi, ni",
                       citation = "MADE-UP: a negative mean"),
  mean_n_one = list(made_up = TRUE, columns = "mi, sdi, ni",
                    citation = "MADE-UP: ni = 1"),
  pritz1997 = list(made_up = FALSE, columns = "xi, ni",
                   citation = paste("dat.pritz1997: Zhou X-H, Brizendine EJ, Pritz MB (1999).",
                                    "Methods for combining rates from several studies.",
                                    "Stat Med 18(5):557-566.")),
  pritz1997_nonevents = list(made_up = FALSE, columns = "xi, mi = ni - xi",
                             citation = "dat.pritz1997 (Zhou et al. 1999), non-events mi"),
  props_edge = list(made_up = TRUE, columns = "xi, ni",
                    citation = "MADE-UP proportions 0 and 1"),
  morris2008_treatment = list(
    made_up = FALSE,
    columns = paste("m1i = m_post, m2i = m_pre, sd1i = sd_post, sd2i = sd_pre, ni, ri;",
                    "SMCR: sd1i = sd_pre (the pre-test SD standardizes), no sd2i"),
    citation = paste("Carlson KD, Schmidt FL (1999). J Appl Psychol 84(6):851-862, as in",
                     "Morris SB (2008). Estimating effect sizes from pretest-posttest-control",
                     "group designs. Organ Res Methods 11(2):364-386 (treatment groups;",
                     "typed in from metafor-project.org/doku.php/analyses:morris2008)")),
  morris2008_control = list(
    made_up = FALSE,
    columns = "as morris2008_treatment",
    citation = "Carlson and Schmidt (1999) via Morris (2008), control groups (one tie)"),
  morris2008_treatment_sd2 = list(
    made_up = FALSE,
    columns = "SMCR with sd1i = sd_pre and sd2i = sd_post given (escalc ignores sd2i)",
    citation = "Carlson and Schmidt (1999) via Morris (2008), treatment groups"),
  prepost_edge = list(made_up = TRUE, columns = "m1i, m2i, sd1i, sd2i, ni, ri",
                      citation = paste("MADE-UP pre-post: ri = -1, 0, 0.999, 1 (unequal SDs),",
                                       "equal means, ni = 3 and 1000")),
  prepost_zero_change_sd = list(made_up = TRUE, columns = "m1i, m2i, sd1i, sd2i, ni, ri",
                                citation = "MADE-UP: ri = 1 and sd1i = sd2i (change scores SD 0)"),
  prepost_small = list(made_up = TRUE, columns = "m1i, m2i, sd1i, sd2i, ni, ri",
                       citation = "MADE-UP: ni = 2 (no Hedges' correction)"),
  prepost_opposite = list(made_up = TRUE, columns = "m1i, m2i, sd1i, sd2i, ni, ri",
                          citation = "MADE-UP: means of opposite signs")
)

# Arguments per data set, named as escalc's (and ipdmeta's).
bcg <- with(dat.bcg, list(ai = tpos, bi = tneg, ci = cpos, di = cneg))
bcg_sizes <- with(dat.bcg, list(ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg))
li2007 <- with(dat.li2007, list(ai = ai, n1i = n1i, ci = ci, n2i = n2i))
tables_edge <- list(ai = c(0, 12, 5, 7, 3), bi = c(20, 0, 15, 13, 27),
                    ci = c(0, 8, 5, 2, 9), di = c(25, 4, 15, 18, 21))
hart <- with(dat.hart1999, list(x1i = x1i, x2i = x2i, t1i = t1i, t2i = t2i))
niel <- with(dat.nielweise2008, list(x1i = x1i, x2i = x2i, t1i = t1i, t2i = t2i))
counts_edge <- list(x1i = c(0, 4, 0, 9, 3), x2i = c(3, 0, 0, 12, 3),
                    t1i = c(120, 300.5, 80, 1000, 250), t2i = c(110, 280, 95, 990, 250))
rates_edge <- list(xi = c(0, 5, 12, 0), ti = c(100, 250, 480.5, 60))
normand <- with(dat.normand1999, list(m1i = m1i, m2i = m2i, sd1i = sd1i, sd2i = sd2i,
                                      n1i = n1i, n2i = n2i))
curtis <- with(dat.curtis1998, list(m1i = m1i, m2i = m2i, sd1i = sd1i, sd2i = sd2i,
                                    n1i = n1i, n2i = n2i))
means_edge <- list(m1i = c(10, 5.5, 20, 3.2, 100), m2i = c(10, 4.0, 18, 3.9, 90),
                   sd1i = c(2, 0, 5, 1.1, 30), sd2i = c(3, 1.5, 5, 0.8, 25),
                   n1i = c(2, 15, 1000, 3, 40), n2i = c(2, 12, 1200, 4, 35))
means_too_small <- list(m1i = c(10, 12), m2i = c(9, 10), sd1i = c(2, 3), sd2i = c(2.5, 3),
                        n1i = c(1, 10), n2i = c(2, 10))
means_zero_sd <- list(m1i = c(10, 12), m2i = c(9, 10), sd1i = c(0, 3), sd2i = c(0, 3),
                      n1i = c(8, 10), n2i = c(9, 10))
means_negative <- list(m1i = c(-5, 4, -2.5), m2i = c(-4, 5, -3), sd1i = c(1, 1.5, 0.7),
                       sd2i = c(1.2, 1.1, 0.9), n1i = c(20, 15, 30), n2i = c(22, 14, 28))
means_opposite <- list(m1i = c(5, -4), m2i = c(4, 5), sd1i = c(1, 1.5), sd2i = c(1.2, 1.1),
                       n1i = c(20, 15), n2i = c(22, 14))
smd_from_d <- list(di = c(0.5, -0.2, 1.1), n1i = c(20, 8, 60), n2i = c(25, 9, 55))
smd_from_t <- list(ti = c(2.1, -0.8, 3.5), n1i = c(20, 8, 60), n2i = c(25, 9, 55))
molloy <- with(dat.molloy2014, list(ri = ri, ni = ni))
cor_edge <- list(ri = c(-1, 1, 0, 0.999, -0.5, 0.3), ni = c(10, 4, 5, 1000, 20, 4))
cor_interior <- list(ri = c(0, 0.999, -0.999, -0.5, 0.3), ni = c(5, 1000, 30, 20, 4))
cor_small <- list(ri = c(0.2, 0.5), ni = c(3, 50))
normand_arm1 <- with(dat.normand1999, list(mi = m1i, sdi = sd1i, ni = n1i))
normand_arm2 <- with(dat.normand1999, list(mi = m2i, sdi = sd2i, ni = n2i))
mean_edge <- list(mi = c(5, 0.01, 250, 7), sdi = c(0, 0.5, 40, 3), ni = c(10, 2, 500, 2))
mean_positive_sd <- list(mi = c(5, 0.01, 250, 7), sdi = c(1.5, 0.5, 40, 3),
                         ni = c(10, 2, 500, 2))
mean_zero <- list(mi = c(0, 3), sdi = c(1, 1), ni = c(10, 12))
mean_negative <- list(mi = c(-1, 3), sdi = c(1, 1), ni = c(10, 12))
mean_n_one <- list(mi = c(4, 3), sdi = c(1, 1), ni = c(1, 12))
pritz <- with(dat.pritz1997, list(xi = xi, ni = ni))
pritz_nonevents <- with(dat.pritz1997, list(xi = xi, mi = ni - xi))
props_edge <- list(xi = c(0, 10, 3, 7), ni = c(12, 10, 20, 7))
morris_t <- data.frame(m_pre = c(30.6, 23.5, 0.5, 53.4, 35.6),
                       m_post = c(38.5, 26.8, 0.7, 75.9, 36.0),
                       sd_pre = c(15.0, 3.1, 0.1, 14.5, 4.7),
                       sd_post = c(11.6, 4.1, 0.1, 4.4, 4.6),
                       ni = c(20, 50, 9, 10, 14),
                       ri = c(0.47, 0.64, 0.77, 0.89, 0.44))
morris_c <- data.frame(m_pre = c(23.1, 24.9, 0.6, 55.7, 34.8),
                       m_post = c(19.7, 25.3, 0.6, 60.7, 33.4),
                       sd_pre = c(13.8, 4.1, 0.2, 17.3, 3.1),
                       sd_post = c(14.8, 3.3, 0.2, 17.9, 6.9),
                       ni = c(20, 42, 9, 11, 14),
                       ri = c(0.47, 0.64, 0.77, 0.89, 0.44))
prepost_args <- function(d) {
  list(m1i = d$m_post, m2i = d$m_pre, sd1i = d$sd_post, sd2i = d$sd_pre, ni = d$ni, ri = d$ri)
}
smcr_args <- function(d) list(m1i = d$m_post, m2i = d$m_pre, sd1i = d$sd_pre, ni = d$ni,
                              ri = d$ri)
prepost_edge <- list(m1i = c(12, 30, 7.5, 50, 20), m2i = c(10, 30, 8, 45, 25),
                     sd1i = c(4, 6, 2, 10, 5), sd2i = c(3, 6, 2.5, 12, 5),
                     ni = c(3, 25, 40, 1000, 18), ri = c(-1, 0, 0.999, 1, 0.5))
prepost_zero_change_sd <- list(m1i = c(20, 12), m2i = c(25, 10), sd1i = c(5, 4),
                               sd2i = c(5, 3), ni = c(15, 20), ri = c(1, 0.5))
prepost_small <- list(m1i = c(20, 12), m2i = c(25, 10), sd1i = c(5, 4), sd2i = c(6, 3),
                      ni = c(2, 20), ri = c(0.5, 0.5))
prepost_opposite <- list(m1i = c(5, -3), m2i = c(4, 2), sd1i = c(1, 1), sd2i = c(1, 1),
                         ni = c(15, 20), ri = c(0.5, 0.5))

# ---------------------------------------------------------------- running escalc
# One escalc() call; keeps escalc's warnings and, if it stops, its error message.
run_case <- function(measure, dataset, args, add = NULL, to = NULL) {
  extra <- list()
  if (!is.null(add)) extra$add <- add
  if (!is.null(to)) extra$to <- to
  warns <- character(0)
  out <- tryCatch(
    withCallingHandlers(
      do.call(escalc, c(list(measure = measure), args, extra)),
      warning = function(w) {
        warns <<- c(warns, conditionMessage(w))
        invokeRestart("muffleWarning")
      }
    ),
    error = function(e) e
  )
  call <- paste0("escalc(\"", measure, "\", ", paste(names(args), collapse = ", "),
                 if (!is.null(add)) paste0(", add = ", add) else "",
                 if (!is.null(to)) paste0(", to = \"", to, "\"") else "", ")")
  case <- list(measure = measure, dataset = dataset, call = call,
               args = lapply(args, vec), add = add, to = to)
  if (inherits(out, "error")) {
    case$error <- conditionMessage(out)
    case$yi <- NULL
  } else {
    case$error <- NULL
    case$yi <- vec(out$yi)
    case$vi <- vec(out$vi)
    case$ni <- vec(attr(out$yi, "ni"))
    case$na_studies <- vec(which(is.na(out$yi) | is.na(out$vi)) - 1L)
  }
  case$warnings <- I(warns)
  case
}

case_id <- function(dataset, add, to) {
  paste0(dataset, if (!is.null(add)) paste0("-add_", add) else "",
         if (!is.null(to)) paste0("-to_", to) else "")
}

# Every combination of add (NULL: escalc's default) and to.
ADD_TO <- list()
for (add in list(NULL, 0.25)) {
  for (to in c("only0", "all", "if0all", "none")) {
    ADD_TO[[length(ADD_TO) + 1]] <- list(add = add, to = to)
  }
}

# (dataset name, argument list, list of list(add, to)) per family.
DEFAULT <- list(list(add = NULL, to = NULL))
family_cases <- list(
  two_by_two = list(
    list("bcg", bcg, c(DEFAULT, list(list(add = NULL, to = "all"),
                                     list(add = NULL, to = "if0all")))),
    list("bcg_sizes", bcg_sizes, DEFAULT),
    list("li2007", li2007, c(DEFAULT, ADD_TO)),
    list("tables_edge", tables_edge, c(DEFAULT, ADD_TO, list(list(add = 0, to = "only0"))))
  ),
  person_time = list(
    list("hart1999", hart, DEFAULT),
    list("nielweise2008", niel, DEFAULT),
    list("counts_edge", counts_edge, c(DEFAULT, ADD_TO))
  ),
  rate = list(
    list("hart1999", list(xi = hart$x1i, ti = hart$t1i), DEFAULT),
    list("hart1999_control", list(xi = hart$x2i, ti = hart$t2i), DEFAULT),
    list("rates_edge", rates_edge, c(DEFAULT, ADD_TO))
  ),
  two_group_means = list(
    list("normand1999", normand, DEFAULT),
    list("curtis1998", curtis, DEFAULT),
    list("means_edge", means_edge, DEFAULT),
    list("means_too_small", means_too_small, DEFAULT),
    list("means_zero_sd", means_zero_sd, DEFAULT),
    list("means_negative", means_negative, DEFAULT),
    list("means_opposite", means_opposite, DEFAULT)
  ),
  correlation = list(
    list("molloy2014", molloy, DEFAULT),
    list("cor_edge", cor_edge, DEFAULT),
    list("cor_interior", cor_interior, DEFAULT),
    list("cor_small", cor_small, DEFAULT)
  ),
  one_group_mean = list(
    list("normand1999_arm1", normand_arm1, DEFAULT),
    list("normand1999_arm2", normand_arm2, DEFAULT),
    list("mean_edge", mean_edge, DEFAULT),
    list("mean_positive_sd", mean_positive_sd, DEFAULT),
    list("mean_zero", mean_zero, DEFAULT),
    list("mean_negative", mean_negative, DEFAULT),
    list("mean_n_one", mean_n_one, DEFAULT)
  ),
  proportion = list(
    list("pritz1997", pritz, DEFAULT),
    list("pritz1997_nonevents", pritz_nonevents, DEFAULT),
    list("props_edge", props_edge, c(DEFAULT, ADD_TO))
  ),
  pre_post = list(
    list("morris2008_treatment", prepost_args(morris_t), DEFAULT),
    list("morris2008_control", prepost_args(morris_c), DEFAULT),
    list("prepost_edge", prepost_edge, DEFAULT),
    list("prepost_zero_change_sd", prepost_zero_change_sd, DEFAULT),
    list("prepost_small", prepost_small, DEFAULT),
    list("prepost_opposite", prepost_opposite, DEFAULT)
  )
)

MEASURES <- list(
  RR = "two_by_two", OR = "two_by_two", RD = "two_by_two", PETO = "two_by_two",
  AS = "two_by_two", IRR = "person_time", IRD = "person_time", IR = "rate", IRLN = "rate",
  MD = "two_group_means", SMD = "two_group_means", SMDH = "two_group_means",
  ROM = "two_group_means", COR = "correlation", ZCOR = "correlation",
  MN = "one_group_mean", MNLN = "one_group_mean", CVLN = "one_group_mean",
  PR = "proportion", PLO = "proportion", PFT = "proportion",
  MC = "pre_post", SMCC = "pre_post", SMCR = "pre_post", ROMC = "pre_post"
)

NOTES <- paste(
  "escalc(measure, <args>, add, to) with metafor's default vtype 'LS'. add/to null: not",
  "passed (escalc's default: add = 1/2, but 0 for AS and PFT unless given; to = 'only0').",
  "yi, vi: escalc's columns (NA as null: escalc recodes a non-finite yi or vi, and a",
  "negative vi, to NA); ni: the 'ni' attribute of yi; na_studies: 0-based positions of",
  "studies with yi or vi NA. error: escalc stopped with this message. ipdmeta refuses",
  "(DataError) every case with an error or an NA study and agrees with every other one."
)

for (measure in names(MEASURES)) {
  cases <- list()
  used <- character(0)
  for (spec in family_cases[[MEASURES[[measure]]]]) {
    dataset <- spec[[1]]
    args <- spec[[2]]
    if (measure == "SMCR" && startsWith(dataset, "morris2008")) {
      d <- if (dataset == "morris2008_treatment") morris_t else morris_c
      args <- smcr_args(d)
    }
    for (at in spec[[3]]) {
      cases[[case_id(dataset, at$add, at$to)]] <- run_case(measure, dataset, args, at$add,
                                                           at$to)
    }
    used <- c(used, dataset)
  }
  if (measure == "SMD") {
    for (dataset in c("smd_from_d", "smd_from_t")) {
      cases[[dataset]] <- run_case(measure, dataset, get(dataset))
      used <- c(used, dataset)
    }
  }
  if (measure == "SMCR") {
    args <- c(smcr_args(morris_t), list(sd2i = morris_t$sd_post))
    cases[["morris2008_treatment_sd2"]] <- run_case(measure, "morris2008_treatment_sd2", args)
    used <- c(used, "morris2008_treatment_sd2")
  }
  write_json_file(list(
    source = source_block(),
    measure = measure,
    notes = NOTES,
    datasets = DATASETS[unique(used)],
    cases = cases
  ), file.path(out_dir, paste0(measure, ".json")))
  cat("wrote", file.path(out_dir, paste0(measure, ".json")), "-", length(cases), "cases\n")
}
