//! Reference Value Provider Service: register, store and query reference values
