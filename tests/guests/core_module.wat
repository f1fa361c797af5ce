;; Hostile at admission: a plain core module, not a component, exporting a
;; function named like a hook. Admission must refuse it.
(module
  (memory (export "memory") 1)
  (func (export "jitrealm:realm/object@0.1.0#on-load") (param i32 i32))
)
