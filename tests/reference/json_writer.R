# The JSON writer shared by the reference scripts (lme4_reference.R, glmer_reference.R).
# Numbers are written with sprintf("%.17g") so that they read back as the same doubles;
# non-finite values are the strings "Inf", "-Inf", "NaN" and missing values are null.
# Needs jsonlite (for escaping strings).

num_json <- function(x) {
  out <- sprintf("%.17g", x)
  out[is.nan(x)] <- "\"NaN\""
  out[is.infinite(x) & x > 0] <- "\"Inf\""
  out[is.infinite(x) & x < 0] <- "\"-Inf\""
  out[is.na(x) & !is.nan(x)] <- "null"
  out
}

to_json <- function(x, indent = 0, array = FALSE) {
  pad <- strrep(" ", indent + 2)
  end <- strrep(" ", indent)
  if (is.null(x)) return("null")
  if (is.data.frame(x)) {
    x <- lapply(as.list(x), function(col) {
      if (is.factor(col)) col <- as.character(col)
      I(col)
    })
  }
  if (is.list(x)) {
    items <- vapply(x, to_json, "", indent = indent + 2)
    if (length(items) == 0) return(if (is.null(names(x))) "[]" else "{}")
    if (!is.null(names(x))) {
      keys <- vapply(names(x), function(k) as.character(toJSON(k, auto_unbox = TRUE)), "")
      items <- paste0(keys, ": ", items)
      return(paste0("{\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", end, "}"))
    }
    return(paste0("[\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", end, "]"))
  }
  as_array <- inherits(x, "AsIs") || length(x) != 1
  x <- unclass(x)
  if (is.factor(x)) x <- as.character(x)
  vals <- if (is.logical(x)) {
    ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.numeric(x)) {
    num_json(as.double(x))
  } else {
    s <- vapply(as.character(x), function(v) as.character(toJSON(v, auto_unbox = TRUE)), "")
    s[is.na(x)] <- "null"
    s
  }
  if (as_array) paste0("[", paste(vals, collapse = ", "), "]") else vals
}

write_json_file <- function(x, path) {
  tmp <- paste0(path, ".tmp")
  writeLines(to_json(x), tmp, useBytes = TRUE)
  file.rename(tmp, path)
}

