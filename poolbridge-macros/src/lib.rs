//! The attributes of `poolbridge`; use them through its re-exports:
//!
//! * `#[poolbridge::job]` registers a plain function as a job of its `ProcessPoolExecutor`;
//! * `#[poolbridge::main]` makes `main` wait for the default executor's jobs when it ends.
//!
//! `#[job]`
//! expands to what a reader could write by hand:
//!
//! ```text
//! #[poolbridge::job]
//! pub fn resize(path: String, width: u32) -> Vec<u8> { BODY }
//! ```
//!
//! becomes
//!
//! ```text
//! #[derive(Clone, Copy, Debug, Default)]
//! pub struct resize;                          // the handle: a zero-size value named like the fn
//! const _: () = {
//!     fn body(path: String, width: u32) -> Vec<u8> { BODY }
//!     impl ::poolbridge::process::Job for resize {
//!         type Args = (String, u32);
//!         type Output = Vec<u8>;
//!         fn name(&self) -> &'static str { concat!(module_path!(), "::resize") }
//!         fn call(&self, (arg0, arg1): Self::Args) -> Vec<u8> { body(arg0, arg1) }
//!     }
//!     // `resize(path, 128)` still calls the fn: a call autoderefs its callee.
//!     impl Deref for resize { type Target = fn(String, u32) -> Vec<u8>; .. }
//!     // `run_in_executor(None, resize, (path, 128))`, `pool.submit_call(resize, ..)`.
//!     impl ::poolbridge::Call<(String, u32)> for resize { .. }
//!     #[distributed_slice(::poolbridge::__private::JOBS)]   // link-time registry (linkme)
//!     static ENTRY: JobEntry = JobEntry { name, signature: "(String, u32) -> Vec<u8>", invoke };
//! };
//! ```
//!
//! `#[main]` on `fn main` adds a guard as its first statement:
//!
//! ```text
//! #[poolbridge::main]
//! fn main() -> R { BODY }
//! // becomes
//! fn main() -> R { let guard = ::poolbridge::exit_guard(); BODY }
//! ```
//!
//! and on an `async fn main` with its runtime's attribute below it, keeps that attribute on an
//! inner fn, so the guard waits after the runtime has shut down (its tasks dropped, its own
//! blocking tasks waited for), as tokio's runtime does at its end:
//!
//! ```text
//! #[poolbridge::main]
//! #[tokio::main]
//! async fn main() -> R { BODY }
//! // becomes
//! fn main() -> R {
//!     let guard = ::poolbridge::exit_guard();
//!     #[tokio::main]
//!     async fn inner() -> R { BODY }
//!     inner()
//! }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Type};

/// Registers a plain `fn` as a job of `poolbridge::ProcessPoolExecutor`. See the documentation of
/// `poolbridge::job`.
#[proc_macro_attribute]
pub fn job(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// Makes `main` wait for the default executor's jobs when it ends. See the documentation of
/// `poolbridge::main`.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_main(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// The expansion of `#[main]`.
fn expand_main(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    if !attr.is_empty() {
        return Err(syn::Error::new(
            attr.span(),
            "#[poolbridge::main] takes no arguments: it waits for every job of the default \
             executor; to let them die instead, call \
             poolbridge::default_executor().shutdown(false, true) before main returns",
        ));
    }
    let func: ItemFn = syn::parse2(item)?;
    let sig = &func.sig;
    if !sig.inputs.is_empty() || !sig.generics.params.is_empty() || sig.variadic.is_some() {
        return Err(syn::Error::new(
            sig.span(),
            "#[poolbridge::main] goes on `fn main()`, which takes no arguments and no generics",
        ));
    }
    let guard = syn::Ident::new("__poolbridge_exit_guard", Span::mixed_site());
    let vis = &func.vis;
    let name = &sig.ident;
    let output = &sig.output;
    let body = &func.block;
    if sig.asyncness.is_none() {
        let attrs = &func.attrs;
        return Ok(quote! {
            #(#attrs)*
            #vis fn #name() #output {
                let #guard = ::poolbridge::exit_guard();
                #body
            }
        });
    }
    // An async main: the attributes below ours (`#[tokio::main]`, ...) build its runtime. They
    // go on an inner fn; `#[cfg]`s and docs stay on `main`.
    let (outer, inner): (Vec<_>, Vec<_>) = func
        .attrs
        .iter()
        .partition(|a| a.path().is_ident("cfg") || a.path().is_ident("doc"));
    let makes_runtime = inner.iter().any(|a| {
        !(a.path().is_ident("allow") || a.path().is_ident("expect") || a.path().is_ident("warn"))
    });
    if !makes_runtime {
        return Err(syn::Error::new(
            sig.asyncness.span(),
            "an async main needs its runtime's attribute below #[poolbridge::main]: \
             `#[poolbridge::main] #[tokio::main] async fn main()` (the order matters: \
             #[poolbridge::main] first, so that main waits after the runtime has shut down)",
        ));
    }
    let inner_name = syn::Ident::new("__poolbridge_main", Span::mixed_site());
    Ok(quote! {
        #(#outer)*
        #vis fn #name() #output {
            let #guard = ::poolbridge::exit_guard();
            #(#inner)*
            async fn #inner_name() #output #body
            #inner_name()
        }
    })
}

/// The expansion of `#[job]`, on `proc_macro2` tokens so that it can be tested.
fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    if !attr.is_empty() {
        return Err(syn::Error::new(
            attr.span(),
            "#[poolbridge::job] takes no arguments: the job is named after the function \
             (module_path::fn_name)",
        ));
    }
    let func: ItemFn = syn::parse2(item)?;
    check_signature(&func)?;

    let sig = &func.sig;
    let name = &sig.ident;
    let vis = &func.vis;
    let body = &func.block;
    let name_str = name.to_string();

    let mut types = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(pt) = input {
            types.push(&*pt.ty);
        }
    }
    // Plain names for the tuple's fields: the fn's own patterns (`mut x`, `(a, b)`) stay on the
    // body fn.
    let args: Vec<_> = (0..types.len())
        .map(|i| syn::Ident::new(&format!("arg{i}"), Span::mixed_site()))
        .collect();
    let args_ty = quote! { (#(#types,)*) };
    let output_ty = match &sig.output {
        ReturnType::Default => quote! { () },
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let signature = format!("{} -> {}", args_ty, output_ty);

    let (docs, others): (Vec<_>, Vec<_>) =
        func.attrs.iter().partition(|a| a.path().is_ident("doc"));
    let cfgs: Vec<_> = others
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .copied()
        .collect();

    // Serde bounds checked where the user wrote the types, so an error points at them.
    let checks = types.iter().map(|ty| {
        quote_spanned! {ty.span()=>
            ::poolbridge::__private::assert_arg::<#ty>();
        }
    });
    let output_check = match &sig.output {
        ReturnType::Default => quote! {},
        ReturnType::Type(_, ty) => quote_spanned! {ty.span()=>
            ::poolbridge::__private::assert_output::<#ty>();
        },
    };
    let body_fn = syn::Ident::new("__poolbridge_job_body", Span::mixed_site());
    let entry = syn::Ident::new("__POOLBRIDGE_JOB_ENTRY", Span::mixed_site());
    let inputs = &sig.inputs;
    let output = &sig.output;
    let constness = &sig.constness;

    Ok(quote! {
        #(#cfgs)*
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #vis struct #name;

        #(#cfgs)*
        const _: () = {
            #(#others)*
            #constness fn #body_fn(#inputs) #output #body

            #[allow(dead_code)]
            fn __poolbridge_job_checks() {
                #(#checks)*
                #output_check
            }

            impl ::poolbridge::process::Job for #name {
                type Args = #args_ty;
                type Output = #output_ty;

                fn name(&self) -> &'static str {
                    ::core::concat!(::core::module_path!(), "::", #name_str)
                }

                fn call(&self, (#(#args,)*): Self::Args) -> Self::Output {
                    #body_fn(#(#args),*)
                }
            }

            // A call expression autoderefs its callee: `#name(a, b)` calls the fn.
            impl ::core::ops::Deref for #name {
                type Target = fn(#(#types),*) -> #output_ty;

                fn deref(&self) -> &Self::Target {
                    static FN: fn(#(#types),*) -> #output_ty = #body_fn;
                    &FN
                }
            }

            // The thread pool's shape: `run_in_executor(None, #name, args)`.
            impl ::poolbridge::Call<#args_ty> for #name {
                type Output = #output_ty;

                fn call(self, (#(#args,)*): #args_ty) -> Self::Output {
                    #body_fn(#(#args),*)
                }
            }

            #[::poolbridge::__private::linkme::distributed_slice(::poolbridge::__private::JOBS)]
            #[linkme(crate = ::poolbridge::__private::linkme)]
            static #entry: ::poolbridge::__private::JobEntry = ::poolbridge::__private::JobEntry {
                name: ::core::concat!(::core::module_path!(), "::", #name_str),
                signature: #signature,
                invoke: |args, out| ::poolbridge::__private::invoke(#name, args, out),
            };
        };
    })
}

/// Refuses what cannot be a job, with a message that says what to write instead.
fn check_signature(func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if let Some(token) = &sig.asyncness {
        return Err(syn::Error::new(
            token.span(),
            "a #[poolbridge::job] cannot be async: a job runs to completion on a worker \
             process's main thread; make it a plain fn (and block on async code inside it)",
        ));
    }
    if let Some(token) = &sig.unsafety {
        return Err(syn::Error::new(
            token.span(),
            "a #[poolbridge::job] cannot be unsafe: the pool calls it with deserialized \
             arguments and cannot uphold its contract; wrap the unsafe call in a safe fn",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new(
            abi.span(),
            "a #[poolbridge::job] must be a Rust fn (no extern ABI)",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a #[poolbridge::job] cannot be generic: a job is registered under one concrete \
             signature; register each instantiation by hand with \
             poolbridge::process::JobFn::new(\"name\", |(x,)| f::<T>(x))",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "a #[poolbridge::job] cannot be variadic",
        ));
    }
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(recv) => {
                return Err(syn::Error::new(
                    recv.span(),
                    "a #[poolbridge::job] cannot take self: a job is a free function (the \
                     worker has no value to call a method on); pass the value as an argument",
                ));
            }
            FnArg::Typed(pt) => check_type(&pt.ty, "argument")?,
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        check_type(ty, "return")?;
    }
    Ok(())
}

/// Borrowed and `impl Trait` types cannot cross a process boundary or be named in `Job`.
fn check_type(ty: &Type, what: &str) -> syn::Result<()> {
    match ty {
        Type::Reference(r) => Err(syn::Error::new(
            r.span(),
            format!(
                "a #[poolbridge::job] {what} type must be owned (String, not &str; Vec<T>, not \
                 &[T]): it is serialized into another process"
            ),
        )),
        Type::ImplTrait(i) => Err(syn::Error::new(
            i.span(),
            format!(
                "a #[poolbridge::job] {what} type must be concrete (no impl Trait): the job is \
                 registered under one signature"
            ),
        )),
        Type::Paren(p) => check_type(&p.elem, what),
        Type::Group(g) => check_type(&g.elem, what),
        Type::Tuple(t) => t.elems.iter().try_for_each(|t| check_type(t, what)),
        Type::Array(a) => check_type(&a.elem, what),
        Type::Slice(s) => check_type(&s.elem, what),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(item: TokenStream2) -> String {
        expand(TokenStream2::new(), item).unwrap_err().to_string()
    }

    #[test]
    fn a_plain_fn_expands_to_a_handle_an_impl_and_a_registry_entry() {
        let out = expand(
            TokenStream2::new(),
            quote! {
                /// Resizes.
                pub fn resize(path: String, mut width: u32) -> Vec<u8> { vec![] }
            },
        )
        .unwrap()
        .to_string();
        assert!(out.contains("pub struct resize ;"), "{out}");
        assert!(out.contains("type Args = (String , u32 ,)"), "{out}");
        assert!(out.contains("type Output = Vec < u8 >"), "{out}");
        assert!(out.contains("distributed_slice"), "{out}");
        assert!(
            out.contains("\"(String , u32 ,) -> Vec < u8 >\""),
            "the signature is the type fingerprint: {out}"
        );
        assert!(
            out.contains("# [doc = r\" Resizes.\"]"),
            "docs move to the handle: {out}"
        );
        assert!(out.contains("(arg0 , arg1 ,) : Self :: Args"), "{out}");
        assert!(
            out.contains("type Target = fn (String , u32) -> Vec < u8 >"),
            "still callable as a fn: {out}"
        );
        assert!(
            out.contains("impl :: poolbridge :: Call < (String , u32 ,) > for resize"),
            "{out}"
        );
        assert!(
            out.contains("fn __poolbridge_job_body (path : String , mut width : u32)"),
            "{out}"
        );
    }

    #[test]
    fn no_arguments_and_no_output_are_unit() {
        let out = expand(TokenStream2::new(), quote! { fn ping() {} })
            .unwrap()
            .to_string();
        assert!(out.contains("type Args = ()"), "{out}");
        assert!(out.contains("type Output = ()"), "{out}");
    }

    #[test]
    fn async_fn_is_refused() {
        assert!(error_of(quote! { async fn f() {} }).contains("cannot be async"));
    }

    #[test]
    fn generic_fn_is_refused_with_the_manual_path() {
        let err = error_of(quote! { fn f<T: Clone>(x: T) -> T { x } });
        assert!(err.contains("cannot be generic"), "{err}");
        assert!(err.contains("JobFn::new"), "{err}");
        let err = error_of(quote! { fn f(x: u8) -> u8 where u8: Copy { x } });
        assert!(err.contains("cannot be generic"), "{err}");
    }

    #[test]
    fn self_receiver_is_refused() {
        assert!(error_of(quote! { fn f(&self) {} }).contains("cannot take self"));
        assert!(error_of(quote! { fn f(self, x: u8) {} }).contains("cannot take self"));
    }

    #[test]
    fn borrowed_and_impl_trait_types_are_refused() {
        assert!(error_of(quote! { fn f(s: &str) {} }).contains("must be owned"));
        assert!(error_of(quote! { fn f(s: (u8, &[u8])) {} }).contains("must be owned"));
        assert!(error_of(quote! { fn f() -> impl Clone { 1 } }).contains("must be concrete"));
        assert!(error_of(quote! { fn f(x: impl Clone) {} }).contains("must be concrete"));
    }

    #[test]
    fn unsafe_extern_and_arguments_are_refused() {
        assert!(error_of(quote! { unsafe fn f() {} }).contains("cannot be unsafe"));
        assert!(error_of(quote! { extern "C" fn f() {} }).contains("no extern ABI"));
        let err = expand(quote! { name = "x" }, quote! { fn f() {} })
            .unwrap_err()
            .to_string();
        assert!(err.contains("takes no arguments"), "{err}");
    }

    fn main_of(item: TokenStream2) -> syn::Result<String> {
        expand_main(TokenStream2::new(), item).map(|out| out.to_string())
    }

    #[test]
    fn main_on_a_sync_fn_holds_a_guard_around_its_body() {
        let out = main_of(quote! { fn main() -> std::io::Result<()> { run()?; Ok(()) } }).unwrap();
        assert!(
            out.starts_with("fn main () -> std :: io :: Result < () > { let __poolbridge_exit_guard = :: poolbridge :: exit_guard () ; { run () ? ; Ok (()) } }"),
            "{out}"
        );
    }

    #[test]
    fn main_on_an_async_fn_keeps_the_runtime_attribute_on_an_inner_fn() {
        let out = main_of(quote! {
            /// Docs.
            #[tokio::main(flavor = "current_thread")]
            async fn main() { work().await }
        })
        .unwrap();
        assert!(out.starts_with("# [doc = r\" Docs.\"] fn main ()"), "{out}");
        assert!(
            out.contains("let __poolbridge_exit_guard = :: poolbridge :: exit_guard () ; # [tokio :: main (flavor = \"current_thread\")] async fn __poolbridge_main () { work () . await } __poolbridge_main () }"),
            "{out}"
        );
    }

    #[test]
    fn main_misplaced_or_misused_is_refused_with_what_to_write() {
        let err = main_of(quote! { async fn main() {} })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("#[poolbridge::main] #[tokio::main] async fn main()"),
            "{err}"
        );
        let err = main_of(quote! { #[allow(unused)] async fn main() {} })
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs its runtime's attribute"), "{err}");
        let err = main_of(quote! { fn main(args: Vec<String>) {} })
            .unwrap_err()
            .to_string();
        assert!(err.contains("takes no arguments"), "{err}");
        let err = expand_main(quote! { wait = false }, quote! { fn main() {} })
            .unwrap_err()
            .to_string();
        assert!(err.contains("takes no arguments"), "{err}");
        assert!(err.contains("shutdown(false, true)"), "{err}");
    }

    #[test]
    fn not_a_fn_is_refused() {
        let err = expand(TokenStream2::new(), quote! { struct S; })
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected"), "{err}");
    }
}
