# as_capthist(): a secr capthist when secr is installed, else its ingredients (class
# "lynxid_secr_data").
#
# Both are built from what capture_history_from_py() has already brought to R (detections,
# usage, traps) rather than from a second crossing of the detections
# (lynxid.export.secr_data() holds the same ingredients for Python users): at 50,000
# detections that crossing cost more than the rest of the R side together. Where secr is
# installed, the capthist array is filled directly from the detections' indices:
# secr::make.capthist() tabulates the captures over every individual x occasion x detector
# cell and copies the array several times (seconds, and several hundred MB, for 300
# individuals x 365 occasions x 200 detectors). Every other part of the object (traps,
# session, covariates, names, class) comes from make.capthist() itself, run on one capture
# per session, so the result is what make.capthist() gives for whichever secr is installed.
# options(lynxid.secr_builder = "make.capthist") runs make.capthist() on everything instead;
# the tests check that both give identical objects.

# The ingredients of secr::make.capthist: captures (Session, ID, Occasion, Detector; a count
# detector has one row per detection, which secr adds up), per session the traps (detector,
# x, y, covariates, in the usage's row order) and usage matrices, noccasions and the detector
# type. `covariates` are the trap covariate columns (lynxid.export.trap_covariates()).
secr_ingredients <- function(x, covariates) {
  sessions <- x$sessions
  d <- x$detections
  rows <- if (identical(x$detector, "count")) rep.int(seq_len(nrow(d)), d$count) else seq_len(nrow(d))
  caps <- as.data.frame(list(Session = d$session[rows], ID = d$individual[rows], Occasion = d$occasion[rows],
                             Detector = d$detector[rows]), stringsAsFactors = FALSE, check.names = FALSE)
  usage <- x$usage[sessions]
  traps <- lapply(sessions, function(s) {
    det <- rownames(usage[[s]])
    t <- x$traps[x$traps$session == s, , drop = FALSE]
    i <- match(det, t$detector)
    cols <- c(list(detector = det, x = t$x[i], y = t$y[i]), lapply(t[covariates], function(v) v[i]))
    as.data.frame(cols, stringsAsFactors = FALSE, check.names = FALSE)
  })
  names(usage) <- names(traps) <- sessions
  noccasions <- stats::setNames(vapply(usage, ncol, 0L), sessions)
  list(captures = caps, traps = traps, usage = usage, noccasions = noccasions, detector = x$detector,
       sessions = sessions, empty_sessions = sessions[!sessions %in% caps$Session], covariates = covariates)
}

# A secr capthist (secr installed) or the ingredients, from secr_ingredients().
secr_capthist <- function(d) {
  if (!requireNamespace("secr", quietly = TRUE)) {
    return(structure(d[c("captures", "traps", "usage", "noccasions", "detector")], class = "lynxid_secr_data"))
  }
  sessions <- d$sessions
  trl <- lapply(sessions, function(s) {
    t <- d$traps[[s]]
    xy <- data.frame(x = t$x, y = t$y, row.names = t$detector)
    tr <- secr::read.traps(data = xy, detector = d$detector, binary.usage = FALSE)
    secr::usage(tr) <- d$usage[[s]][t$detector, , drop = FALSE]
    if (length(d$covariates)) secr::covariates(tr) <- t[, d$covariates, drop = FALSE]
    tr
  })
  names(trl) <- sessions
  caps <- d$captures
  empty <- d$empty_sessions
  if (length(empty)) {
    # secr's 'noncapt' row keeps a session without any capture
    caps <- rbind(caps, data.frame(Session = empty, ID = "NONE", Occasion = 1L,
                                   Detector = vapply(empty, function(s) d$traps[[s]]$detector[1], ""),
                                   stringsAsFactors = FALSE))
  }
  # make.capthist sorts session labels (numerically, else with the locale's sort()) and pairs
  # them with the traps list by position; a factor keeps lynxid's order, the order of 'trl'
  caps$Session <- factor(as.character(caps$Session), levels = sessions)
  if (identical(getOption("lynxid.secr_builder"), "make.capthist")) return(make_capthist(caps, trl, d$noccasions))
  # secr's own object for one capture per session (cheap): its attributes -- traps, session,
  # covariates, dimnames of occasions and detectors, class -- are those of the full object
  tpl <- make_capthist(caps[!duplicated(caps$Session), , drop = FALSE], trl, d$noccasions)
  out <- if (length(sessions) > 1) unclass(tpl) else list(tpl)
  for (i in seq_along(sessions)) {
    if (sessions[i] %in% empty) next                  # the template is the whole session
    full <- fill_capthist(out[[i]], caps[caps$Session == sessions[i], , drop = FALSE], trl[[i]])
    if (is.null(full)) return(make_capthist(caps, trl, d$noccasions))   # a capthist this does not know
    out[[i]] <- full
  }
  if (length(sessions) == 1) return(out[[1]])
  attributes(out) <- attributes(tpl)
  out
}

# The capthist of one session, from secr's capthist of its first capture (`tpl`): a double
# array individuals x occasions x detectors holding the number of capture rows per cell, as
# secr::make.capthist() tabulates them, individuals in make.capthist's order (numerically when
# all IDs are numbers, else R's sort order), every other attribute taken from `tpl`. NULL when
# `tpl` has attributes that could depend on the individuals (another secr version): the
# caller then leaves the work to make.capthist.
fill_capthist <- function(tpl, caps, traps) {
  at <- attributes(tpl)
  if (!all(names(at) %in% c("dim", "dimnames", "covariates", "class", "traps", "session")) ||
      length(at$dim) != 3 || length(at$dimnames) != 3 || NROW(at$covariates) != 0) {
    return(NULL)
  }
  ids <- unique(caps$ID[order(caps$ID, abs(caps$Occasion))])      # make.capthist's sort of the captures
  if (suppressWarnings(all(!is.na(as.numeric(ids))))) ids <- ids[order(as.numeric(ids))]
  n <- length(ids)
  K <- at$dim[2]
  J <- at$dim[3]
  cell <- match(caps$ID, ids) + n * (abs(caps$Occasion) - 1) + n * K * (match(caps$Detector, rownames(traps)) - 1)
  runs <- rle(sort(cell))
  w <- array(vector(storage.mode(tpl), 1), dim = c(n, K, J))
  w[runs$values] <- runs$lengths
  at$dim <- c(n, K, J)
  at$dimnames[[1]] <- ids
  attributes(w) <- at
  w
}

make_capthist <- function(caps, trl, noccasions) {
  if (length(trl) == 1) {
    secr::make.capthist(caps, trl[[1]], fmt = "trapID", noccasions = noccasions[[1]])
  } else {
    secr::make.capthist(caps, trl, fmt = "trapID", noccasions = unname(noccasions))
  }
}
