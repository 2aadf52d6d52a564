//! Assertion macros for kernel tests: on failure they return
//! `Err(Failure::Fail(..))` from the test function with the condition and
//! source location, instead of panicking (which would end the whole run).

/// `kassert!(cond)` or `kassert!(cond, "format", args..)`.
#[macro_export]
macro_rules! kassert {
    ($cond:expr $(,)?) => {
        let ok: bool = $cond;
        if !ok {
            return Err($crate::ktest::Failure::Fail(alloc::format!(
                "assertion failed: {} at {}:{}",
                stringify!($cond),
                file!(),
                line!()
            )));
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        let ok: bool = $cond;
        if !ok {
            return Err($crate::ktest::Failure::Fail(alloc::format!(
                "{} ({}) at {}:{}",
                format_args!($($arg)+),
                stringify!($cond),
                file!(),
                line!()
            )));
        }
    };
}

/// `kassert_eq!(left, right)`: reports both values on failure.
#[macro_export]
macro_rules! kassert_eq {
    ($left:expr, $right:expr $(,)?) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err($crate::ktest::Failure::Fail(alloc::format!(
                "{} == {} failed: left={:?} right={:?} at {}:{}",
                stringify!($left),
                stringify!($right),
                l,
                r,
                file!(),
                line!()
            )));
        }
    }};
}

/// Marks the case as skipped with a reason.
#[macro_export]
macro_rules! kskip {
    ($why:expr) => {
        return Err($crate::ktest::Failure::Skip($why))
    };
}

/// `cases![a, b, c]`: a suite's `&[Case]`, each case named after its
/// function (`stringify!`), which is the name KTAP reports. Where the name
/// is not the function's: `cases![name_a => path::to_a, name_b => b]`.
#[macro_export]
macro_rules! cases {
    ($($run:ident),* $(,)?) => {
        &[$($crate::ktest::Case { name: stringify!($run), run: $run }),*]
    };
    ($($name:ident => $run:path),* $(,)?) => {
        &[$($crate::ktest::Case { name: stringify!($name), run: $run }),*]
    };
}
