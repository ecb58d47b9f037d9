# fit_density(engine = "secr"): secr::secr.fit on exactly the data lynxid fits (the SCRData the
# Python side checked, as a capthist), the same mask and the same model, turned into the same
# "lynxid_density" object as lynxid's engine.

secr_engine <- function(data, detectfn, buffer, spacing, mask, D_per_session, dots) {
  if (!requireNamespace("secr", quietly = TRUE)) {
    stop("engine = \"secr\" needs the secr package, which is not installed: install it with ",
         "install.packages(\"secr\") (engine = \"lynxid\", the default, fits the same model without it)",
         call. = FALSE)
  }
  parts <- scr_parts(data)
  detector <- attr(parts, "detector")
  sessions <- vapply(parts, function(s) s$name, "")
  capthist <- secr_capthist(scr_ingredients(parts, detector))             # secr.R
  if (is.null(mask) && is.null(buffer)) {
    # the mask lynxid's automatic buffer chooses, so that both engines integrate over one habitat
    auto <- lynxid_engine(data, detectfn, NULL, spacing, NULL, D_per_session, list())
    mask <- lapply(sessions, function(s) {
      m <- auto$mask[auto$mask$session == s, c("x", "y")]
      structure(m, spacing = auto$mask_info$spacing[auto$mask_info$session == s])
    })
  }
  masks <- secr_masks(capthist, sessions, buffer, spacing, mask)
  model <- if (D_per_session) list(D ~ session) else list(D ~ 1)
  t0 <- proc.time()[["elapsed"]]
  fit <- do.call(secr::secr.fit, c(list(capthist, model = model, mask = if (length(masks) == 1) masks[[1]] else masks,
                                        detectfn = detectfn, details = list(fastproximity = FALSE), trace = FALSE),
                                   dots))
  seconds <- proc.time()[["elapsed"]] - t0
  p <- secr_parts(fit, masks, parts, detector, detectfn, D_per_session, buffer,
                  n = as.integer(reticulate::py_to_r(data$n)))
  p$seconds <- seconds
  out <- density_object(p, "secr")
  out$secr <- fit
  out
}

# The sessions of lynxid.scr_data.SCRData in R: name, usage matrix, traps and captures
# (lynxid.rinterop.scr_data_to_r), the detector type as attribute "detector".
scr_parts <- function(data) {
  sd <- reticulate::py_to_r(py_lynxid("rinterop")$scr_data_to_r(data))
  parts <- lapply(sd$sessions, function(s) list(name = s$name, usage = rebuild(s$usage), traps = rebuild(s$traps),
                                                captures = rebuild(s$captures)))
  structure(parts, detector = sd$detector)
}

# make.capthist's ingredients (secr_ingredients()'s shape, secr.R) from scr_data_to_r(): a
# count detector has one capture row per detection, which secr adds up.
scr_ingredients <- function(parts, detector) {
  sessions <- vapply(parts, function(s) s$name, "")
  caps <- do.call(rbind, lapply(parts, function(s) {
    c <- s$captures
    rows <- rep.int(seq_len(nrow(c)), c$count)
    data.frame(Session = rep(s$name, length(rows)), ID = c$ID[rows], Occasion = as.integer(c$Occasion[rows]),
               Detector = c$Detector[rows], stringsAsFactors = FALSE)
  }))
  traps <- lapply(parts, function(s) s$traps)
  usage <- lapply(parts, function(s) s$usage)
  names(traps) <- names(usage) <- sessions
  list(captures = caps, traps = traps, usage = usage, noccasions = stats::setNames(vapply(usage, ncol, 0L), sessions),
       detector = detector, sessions = sessions, empty_sessions = sessions[!sessions %in% caps$Session],
       covariates = character())
}

# One secr mask per session: given points (secr::read.mask), or secr::make.mask around the
# session's detectors with the buffer and spacing (the points lynxid's make_mask gives).
secr_masks <- function(capthist, sessions, buffer, spacing, mask) {
  trs <- lapply(seq_along(sessions), function(i) secr::traps(if (length(sessions) > 1) capthist[[i]] else capthist))
  if (is.null(mask)) {
    return(lapply(trs, function(tr) secr::make.mask(tr, buffer = buffer, spacing = spacing, type = "trapbuffer")))
  }
  if (!is.list(mask) || is.data.frame(mask)) mask <- rep(list(mask), length(sessions))
  if (!is.null(names(mask)) && all(sessions %in% names(mask))) mask <- mask[sessions]
  if (length(mask) != length(sessions)) stop(length(mask), " masks for ", length(sessions), " sessions", call. = FALSE)
  lapply(mask, function(m) {
    if (inherits(m, "mask")) return(m)
    if (is.character(m) && length(m) == 1) m <- utils::read.csv(m)
    xy <- data.frame(x = as.numeric(m$x), y = as.numeric(m$y))
    # the spacing lynxid reads off the points (read.mask's own guess compares all pairs of points)
    sp <- attr(m, "spacing") %||% spacing %||%
      reticulate::py_to_r(py_call(py_lynxid("rinterop")$Mask$from_points(r_to_pandas(xy))$spacing))
    secr::read.mask(data = xy, spacing = sp)
  })
}

# secr's fit in the shape of lynxid.rinterop.density_fit_to_r(), for density_object().
secr_parts <- function(fit, masks, parts, detector, detectfn, D_per_session, buffer, n) {
  sessions <- vapply(parts, function(s) s$name, "")
  pr <- stats::predict(fit)
  if (is.data.frame(pr)) pr <- list(pr)
  det_names <- setdiff(rownames(pr[[1]]), "D")
  area <- vapply(masks, function(m) nrow(m) * attr(m, "area"), 0)
  est <- do.call(rbind, lapply(seq_along(sessions), function(i) secr_estimates(pr[[i]], sessions[i], area[i])))
  cf <- stats::coef(fit)
  links <- vapply(sub("\\..*$", "", rownames(cf)), function(b) fit$link[[b]] %||% "log", "")
  co <- data.frame(parameter = rownames(cf), link = unname(links), beta = cf$beta, SE.beta = cf$SE.beta,
                   lcl = cf$lcl, ucl = cf$ucl, stringsAsFactors = FALSE)
  ll <- as.numeric(stats::logLik(fit))
  k <- length(fit$betanames)
  opt <- fit$fit                    # nlm's result for secr's default method, optim's for others
  converged <- if (!is.null(opt$convergence)) opt$convergence == 0 else isTRUE(opt$code %in% 1:2)
  message <- opt$message %||% if (!is.null(opt$code)) paste("nlm code", opt$code) else ""
  list(estimates = est, coefficients = co, vcov = unname(fit$beta.vcv), names = rownames(cf), det_names = det_names,
       detectfn = detectfn, detector = detector, D_per_session = D_per_session, logLik = ll, AIC = -2 * ll + 2 * k,
       AICc = if (n - k - 1 > 0) -2 * ll + 2 * k + 2 * k * (k + 1) / (n - k - 1) else NA_real_, npar = k, n = n,
       sessions = sessions,
       convergence = list(converged = converged, message = message,
                          problems = if (converged) character() else {
                            paste("secr's optimiser did not converge:", message)
                          }),
       buffer_check = data.frame(session = character(), buffer = numeric(), relative_bias = numeric(),
                                 suggested_buffer = numeric()),
       mask = do.call(rbind, lapply(seq_along(sessions), function(i) data.frame(session = sessions[i], x = masks[[i]]$x,
                                                                                 y = masks[[i]]$y))),
       traps = do.call(rbind, lapply(parts, function(s) data.frame(session = s$name, x = s$traps$x, y = s$traps$y,
                                                                   usage = rowSums(s$usage)))),
       mask_spacing = vapply(masks, function(m) attr(m, "spacing"), 0),
       mask_buffer = rep(list(buffer), length(sessions)))
}

# One session of predict.secr() as lynxid's estimates table: D, D per 100 km^2, the detection
# parameters and E(N) = D x mask area (their SEs and limits scale with D's).
secr_estimates <- function(pr, session, area) {
  row <- function(par, r, scale = 1) {
    data.frame(session = session, parameter = par, estimate = pr[r, "estimate"] * scale,
               SE = pr[r, "SE.estimate"] * scale, lcl = pr[r, "lcl"] * scale, ucl = pr[r, "ucl"] * scale,
               unit = density_units[[par]], stringsAsFactors = FALSE)
  }
  det <- setdiff(rownames(pr), "D")
  do.call(rbind, c(list(row("D", "D"), row("D_100km2", "D", 1e4)), lapply(det, function(p) row(p, p)),
                   list(row("EN", "D", area))))
}

# lynxid.density_result.UNITS
density_units <- list(D = "animals/ha", D_100km2 = "animals/100 km2", g0 = "probability per unit usage",
                      lambda0 = "detections per unit usage", sigma = "m", z = "shape", EN = "animals in mask")
