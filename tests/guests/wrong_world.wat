;; Hostile at admission: a valid component that exports
;; `jitrealm:realm/object@0.1.0` with `on-load` of the wrong type (u32 instead
;; of string) and none of the other hooks. Admission must refuse it.
(component
  (core module $m
    (func (export "on-load") (param i32))
  )
  (core instance $i (instantiate $m))
  (func $on-load (param "self-id" u32) (canon lift (core func $i "on-load")))
  (instance $object (export "on-load" (func $on-load)))
  (export "jitrealm:realm/object@0.1.0" (instance $object))
)
