# Step 8: read the capture history Python handed over (examples/rds_handover.py wrote
# capture_history/capthist.rds): a secr capthist where the writer's R had secr, else its
# ingredients, from which secr::make.capthist builds it.
#   Rscript examples/rds_handover.R [FOLDER]
args <- commandArgs(trailingOnly = TRUE)
work <- if (length(args)) args[1] else Sys.getenv("LYNXID_EXAMPLE_DIR", "lynxid-example")
x <- readRDS(file.path(work, "capture_history", "capthist.rds"))
if (inherits(x, "capthist")) {
  ch <- x
} else if (requireNamespace("secr", quietly = TRUE)) {
  trl <- lapply(names(x$traps), function(s) {
    t <- x$traps[[s]]
    tr <- secr::read.traps(data = data.frame(x = t$x, y = t$y, row.names = t$detector), detector = x$detector,
                           binary.usage = FALSE)
    secr::usage(tr) <- as.matrix(x$usage[[s]])[t$detector, , drop = FALSE]
    tr
  })
  ch <- secr::make.capthist(x$captures, if (length(trl) == 1) trl[[1]] else trl, fmt = "trapID",
                            noccasions = unname(unlist(x$noccasions)))
} else {
  cat(x$note, "\n")
  ch <- NULL
}
if (!is.null(ch)) {
  print(summary(ch))
  fit <- secr::secr.fit(ch, detectfn = "HN", buffer = 15000, details = list(fastproximity = FALSE), trace = FALSE)
  print(stats::predict(fit))
}
